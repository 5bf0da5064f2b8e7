"""How a job call can fail, with its HTTP status: the body is {"detail": ...}."""

from rest_framework import status
from rest_framework.exceptions import APIException


class JobNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No task with this task_id."
    default_code = "task_not_found"


class JobNotCancellable(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Only a queued or running task can be cancelled."
    default_code = "task_not_cancellable"


class JobCancelled(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task was cancelled."
    default_code = "task_cancelled"


class QueueUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The job queue is not available."
    default_code = "queue_unavailable"


class InvalidJobQuery(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid query parameter."
    default_code = "invalid_query"
