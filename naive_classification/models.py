"""The naive classifier's background jobs: a dataset export or a training."""

from django.db import models

from muses.jobs.models import Job


class NaiveJob(Job):
    """One export or training, queued from the admin page or a command; ``options`` are
    what it was asked to do, ``result`` what it made (the dataset, or the saved model)."""

    class Kind(models.TextChoices):
        EXPORT = "naive_export", "dataset export"
        TRAINING = "naive_training", "training"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    options = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass

    def status_fields(self) -> dict:
        return {"options": self.options, "result": self.result}

    @property
    def name(self) -> str:
        if self.kind == self.Kind.TRAINING:
            return f"training of {self.options.get('model_name', '?')}"
        return self.get_kind_display()

    @property
    def summary(self) -> str:
        """One line of what the job made, or why it did not."""
        if self.error or not self.result:
            return self.error
        if self.kind == self.Kind.EXPORT:
            return f"{self.result['images']} images written to {self.result['output']}"
        accuracy = self.result.get("accuracy")
        tested = f" (test accuracy {accuracy:.3f})" if accuracy is not None else ""
        return f"saved {self.result['model_path']}{tested}"
