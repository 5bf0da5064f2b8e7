"""Training: `/custom/train/<tag>` (the seed) and `POST /api/tags/<tag>/train`, both
queueing through tag_train_enqueue; the job is followed at /status/<task_id>."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging.jobs import tag_train_enqueue
from custom_tagging.selectors import tag_get
from muses.api.params import user_of
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi, StateChangingGetApi
from muses.jobs.serializers import JobOutputSerializer
from muses.roles import LABEL


class TrainApi(StateChangingGetApi):
    roles = {"GET": LABEL, "POST": LABEL}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TrainOutput"

        task_id = serializers.CharField()
        tag = serializers.CharField()
        state = serializers.CharField()
        status_url = serializers.CharField()

    doc = {
        "summary": "Queue a training of the tag",
        "description": "Replies at once with task_id; follow it at /status/<task_id>.",
        "request": None,
        "responses": {
            202: OutputSerializer,
            400: error("No positive or no negative images."),
            404: error("No such tag."),
            409: error("A training of the tag is already queued or running."),
            **COMMON_ERRORS,
        },
    }

    @extend_schema(operation_id="custom_train", **doc)
    def get(self, request, tag: str):
        job = tag_train_enqueue(tag=tag_get(name=tag), user=user_of(request))
        reply = {
            "task_id": job.task_id,
            "tag": job.tag_name,
            "state": job.state,
            "status_url": f"/status/{job.task_id}",
        }
        return Response(self.OutputSerializer(reply).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(operation_id="custom_train_post", **doc)
    def post(self, request, tag: str):
        return self.get(request, tag)


class TagTrainApi(BaseApi):
    roles = {"POST": LABEL}

    @extend_schema(
        operation_id="api_tags_train",
        summary="Queue a training (same as /custom/train/<tag>)",
        request=None,
        responses={
            202: JobOutputSerializer,
            400: error("No positive or no negative images."),
            404: error("No such tag."),
            409: error("A training is already queued or running."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, tag: str):
        job = tag_train_enqueue(tag=tag_get(name=tag), user=user_of(request))
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
