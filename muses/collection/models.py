import re
import uuid

from django.db import models

# \A...\Z, not ^...$: "$" also matches before a final newline, so "abc\n" would pass.
IMAGE_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")


def new_image_id() -> str:
    return uuid.uuid4().hex


class Item(models.Model):
    """A museum object, as its collection describes it."""

    museum = models.CharField(max_length=200, db_index=True)
    object_number = models.CharField(max_length=200)
    title = models.TextField(blank=True)
    object_type = models.CharField(max_length=300, blank=True, db_index=True)
    medium = models.TextField(blank=True)
    period = models.CharField(max_length=300, blank=True)
    culture = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    keywords = models.TextField(blank=True)
    language = models.CharField(max_length=10, blank=True)
    license = models.CharField(max_length=300, blank=True)
    source_url = models.URLField(max_length=1000, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["museum", "object_number"], name="item_unique_number")
        ]
        ordering = ["museum", "object_number"]

    def __str__(self) -> str:
        return f"{self.object_number} — {self.title[:80]}" if self.title else self.object_number


class Image(models.Model):
    """A picture of an item, or one uploaded through the API."""

    image_id = models.CharField(max_length=64, unique=True, default=new_image_id)
    item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.CASCADE, related_name="images"
    )
    # Content-addressed in the media storage (MEDIA_ROOT or a bucket); never the uploader's path.
    file = models.FileField(upload_to="images", max_length=300)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=20)
    original_name = models.CharField(max_length=300, blank=True)
    # A curator's class for the naive classifier: wins over the keyword label.
    curator_class = models.CharField(max_length=100, blank=True, db_index=True)
    # Written by `muses_classify`.
    predicted_class = models.CharField(max_length=100, blank=True, db_index=True)
    predicted_probability = models.FloatField(null=True, blank=True)
    # Where a IIIF import found it: the same manifest and canvas are never fetched twice,
    # and published annotations target the canvas.
    iiif_manifest = models.URLField(max_length=1000, blank=True)
    iiif_canvas = models.URLField(max_length=1000, blank=True)
    # The museum's own image as a IIIF painting body (its Image API service, or the URL of
    # the selected region): result manifests show it instead of MUSES' stored copy.
    iiif_body = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["item", "sha256"]),
            models.Index(fields=["iiif_manifest", "iiif_canvas"], name="image_iiif_source"),
        ]

    def __str__(self) -> str:
        return self.image_id
