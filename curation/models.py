"""Where each image sits on the map of the collection (a 2-D layout of its features)."""

from django.db import models

from muses.jobs.models import Job


class MapPoint(models.Model):
    image = models.OneToOneField(
        "collection.Image", on_delete=models.CASCADE, related_name="map_point"
    )
    x = models.FloatField()
    y = models.FloatField()
    # False: laid out with the whole collection; True: placed later among its neighbours.
    placed = models.BooleanField(default=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image"]


class CurationJob(Job):
    """Curation work run in the background: laying out the map of the collection, finding
    likely label errors (the report is cached; the job's result says what it found)."""

    class Kind(models.TextChoices):
        MAP_LAYOUT = "map_layout", "map layout"
        LABEL_ISSUES = "label_issues", "likely label errors"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MAP_LAYOUT)
    options = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass

    def status_fields(self) -> dict:
        return {"options": self.options, "result": self.result}
