import numpy as np
from django.db import models


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
