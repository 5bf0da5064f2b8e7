"""A job of any kind as /status and /api/jobs show it: the fields every job has, then what
its kind adds through ``Job.status_fields``."""

from rest_framework import serializers


class JobOutputSerializer(serializers.Serializer):
    """A job of any kind (training, library prediction, naive export or training, map
    layout) as /status shows it."""

    task_id = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    # What the kinds add (status_fields), declared here for the schema.
    tag = serializers.CharField(required=False)
    version = serializers.IntegerField(required=False, allow_null=True)
    metrics = serializers.DictField(required=False, allow_null=True)
    threshold = serializers.FloatField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    rows = serializers.IntegerField(required=False)
    result_url = serializers.CharField(required=False, allow_null=True)
    options = serializers.DictField(
        required=False, help_text="What a naive or curation job was asked to do."
    )
    result = serializers.DictField(
        required=False,
        help_text="What a naive or curation job made: the dataset, the saved model, the map.",
    )
    tag_deleted = serializers.BooleanField(required=False, help_text="The tag was deleted since.")
    warning = serializers.CharField(
        required=False,
        help_text="Why a queued job is not taken (no queue worker), or that its tag was deleted.",
    )

    def to_representation(self, job):
        data = {
            "task_id": job.task_id,
            "kind": job.kind,
            "state": job.state,
            "progress": job.progress,
            "error": job.error,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
            **job.status_fields(),
        }
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
