"""Quiet queue logging: django-q2 logs three INFO lines per task ("Enqueued [muses] N", a
worker's "processing", the monitor's "Processed"), and an import or the seed's client queues
a feature task per image or chunk. At the default level those lines are dropped and each MUSES
job logs one line as it ends (muses.jobs.services); MUSES_LOG_LEVEL=DEBUG shows them all."""

import logging

PER_TASK = ("Enqueued [", "Processed '", "Pushed ")
# Also per task in the queue's sync mode (each task runs a worker and a monitor in-process);
# once per process in a cluster, where "Q Cluster ... starting" says the same.
PER_TASK_INSIDE = (
    " processing ",
    " ready for work at ",
    " stopped doing work",
    " monitoring at ",
    " stopped monitoring results",
    " pushing tasks at ",
    " stopped pushing tasks",
)


class PerTaskChatter(logging.Filter):
    """Drops django-q2's per-task INFO lines unless ``verbose``; warnings, errors (a failed
    task) and the cluster's start and stop lines always pass."""

    def __init__(self, verbose: bool = False):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose or record.levelno >= logging.WARNING:
            return True
        message = record.getMessage()
        return not (
            message.startswith(PER_TASK) or any(part in message for part in PER_TASK_INSIDE)
        )
