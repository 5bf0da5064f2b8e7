"""Where each image sits on the map of the collection (a 2-D layout of its features)."""

from django.db import models


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
