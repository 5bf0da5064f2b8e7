"""Custom tags, their labelled examples, trained versions and their jobs (on muses.jobs)."""

import numpy as np
from django.conf import settings
from django.db import models

# new_task_id: the historical migrations name it here.
from muses.jobs.models import Job, new_task_id  # noqa: F401

# Tag names travel as one URL path segment and as items of a comma-separated list
# (`/custom/predict_batch?tags=a,b`), so '/' and ',' cannot be part of a name.
TAG_NAME_MAX_LENGTH = 100
COEF_DTYPE = "<f4"


class CustomTag(models.Model):
    """A keyword or style that people teach by example."""

    name = models.CharField(max_length=TAG_NAME_MAX_LENGTH, unique=True)
    # When set, training picks the threshold that reaches this precision (0..1) with the
    # best recall, instead of the threshold that maximises F1.
    target_precision = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # The API's roles (muses.roles); the migration 0003 groups them.
        permissions = [
            ("label", "Can add images, assign, train and edit tags"),
            ("curate", "Can delete or reset tags and replace or download the whole state"),
        ]

    def __str__(self) -> str:
        return self.name

    def active_version(self) -> "TagVersion | None":
        return self.versions.filter(is_active=True).first()


class Assignment(models.Model):
    """One image marked as a positive or negative example of one tag."""

    class Label(models.TextChoices):
        POSITIVE = "positive"
        NEGATIVE = "negative"

    tag = models.ForeignKey(CustomTag, on_delete=models.CASCADE, related_name="assignments")
    image = models.ForeignKey(
        "collection.Image", on_delete=models.CASCADE, related_name="tag_assignments"
    )
    label = models.CharField(max_length=8, choices=Label.choices)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tag", "image"], name="assignment_unique_image_tag")
        ]
        indexes = [models.Index(fields=["tag", "label"])]
        ordering = ["tag", "image"]

    def __str__(self) -> str:
        return f"{self.image_id} {self.label} {self.tag_id}"


class TagVersion(models.Model):
    """One training of a tag: a linear head on the backbone's stored features."""

    tag = models.ForeignKey(CustomTag, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    backbone = models.CharField(max_length=50)
    weights_digest = models.CharField(max_length=64)
    feature_dim = models.PositiveIntegerField()
    # float32 little-endian, one weight per feature; applies to raw stored features.
    coef = models.BinaryField()
    intercept = models.FloatField()
    threshold = models.FloatField()
    metrics = models.JSONField(default=dict, blank=True)
    positives = models.PositiveIntegerField(default=0)
    negatives = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tag", "number"], name="tagversion_unique_number"),
            models.UniqueConstraint(
                fields=["tag"], condition=models.Q(is_active=True), name="tagversion_one_active"
            ),
        ]
        ordering = ["tag", "-number"]

    def __str__(self) -> str:
        return f"{self.tag_id} v{self.number}"

    def coef_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.coef), dtype=COEF_DTYPE).astype(np.float32)


class TrainingJob(Job):
    kind = "training"

    tag = models.ForeignKey(
        CustomTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # Kept after the tag is reset, so old task ids still say what they were.
    tag_name = models.CharField(max_length=TAG_NAME_MAX_LENGTH)
    version = models.ForeignKey(
        TagVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(Job.Meta):
        pass

    def status_fields(self) -> dict:
        version = self.version
        fields = {
            "tag": self.tag_name,
            "version": version.number if version else None,
            "metrics": version.metrics if version else None,
            "threshold": version.threshold if version else None,
        }
        if self.tag_id is None:  # the tag was deleted (/custom/delete) after the job
            fields.update(
                tag_deleted=True,
                warning=f"The tag {self.tag_name!r} was deleted since; its versions are gone.",
            )
        return fields


class PredictionJob(Job):
    """Every stored image scored by the chosen tags, written to a CSV file."""

    kind = "library_prediction"

    tag_names = models.JSONField(default=list, blank=True)
    result = models.FileField(upload_to="predictions", max_length=300, blank=True)
    rows = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        pass

    def status_fields(self) -> dict:
        done = self.state == "success"
        return {
            "tags": self.tag_names,
            "rows": self.rows,
            "result_url": f"/api/predictions/{self.task_id}/csv" if done else None,
        }
