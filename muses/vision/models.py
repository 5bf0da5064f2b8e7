import numpy as np
from django.db import models

from muses.jobs.models import Job


class ImageFeature(models.Model):
    """A backbone's pooled feature vector for one image, computed once and kept."""

    image = models.ForeignKey("collection.Image", on_delete=models.CASCADE, related_name="features")
    backbone = models.CharField(max_length=50)
    weights_digest = models.CharField(max_length=64)
    dim = models.PositiveIntegerField()
    dtype = models.CharField(max_length=10, default="float32")
    # Which engine computed the vector, at which precision (muses.vision.inference): vectors
    # of different numerics families are never mixed in one matrix or one training.
    engine = models.CharField(max_length=20, default="tensorflow")
    precision = models.CharField(max_length=10, default="fp32")
    vector = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "backbone"], name="feature_unique_backbone")
        ]
        indexes = [models.Index(fields=["backbone", "id"])]

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype=self.dtype).astype(np.float32)


class ImageHash(models.Model):
    """A perceptual hash of an image's picture (borders trimmed), for near-duplicates."""

    image = models.OneToOneField(
        "collection.Image", on_delete=models.CASCADE, related_name="perceptual_hash"
    )
    value = models.BigIntegerField()  # 64 bits, signed
    created = models.DateTimeField(auto_now_add=True)


class DuplicateGroup(models.Model):
    """Images that look like the same photograph or the same object. Open until a curator
    decides: kept apart (distinct objects) or merged (one object, its images on one item).
    Open and merged groups never straddle dataset splits."""

    class State(models.TextChoices):
        OPEN = "open"
        KEPT = "kept"
        MERGED = "merged"

    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN, db_index=True)
    created = models.DateTimeField(auto_now_add=True)
    decided = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"near-duplicates #{self.pk} ({self.state})"


class DuplicateMember(models.Model):
    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members")
    image = models.OneToOneField(
        "collection.Image", on_delete=models.CASCADE, related_name="duplicate_membership"
    )
    # The cosine (centred features) to the closest other member when it was grouped.
    similarity = models.FloatField(default=0.0)

    class Meta:
        ordering = ["group", "image"]


class VisionJob(Job):
    """Vision work a curator starts from the admin: the near-duplicate search over the
    whole collection. (Extraction chunks and index rebuilds are the system's own upkeep,
    queued directly: one row per 256 images would only fill the job list.)"""

    class Kind(models.TextChoices):
        NEAR_DUPLICATES = "near_duplicates", "near-duplicate search"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NEAR_DUPLICATES)
    result = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass

    def status_fields(self) -> dict:
        return {"result": self.result}
