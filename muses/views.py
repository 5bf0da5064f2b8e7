"""The landing page at "/": what MUSES is, where to go, and how the library stands."""

from django.conf import settings
from django.shortcuts import render

from custom_tagging.models import CustomTag
from muses.collection.models import Image
from muses.jobs.workers import queue_health


def landing_counts() -> dict[str, int]:
    """Live figures, each one query (or one cache read for the workers)."""
    images = Image.objects.count()
    with_features = Image.objects.filter(features__backbone=settings.MUSES_BACKBONE).count()
    return {
        "images": images,
        "features_pending": images - with_features,
        "tags": CustomTag.objects.count(),
        "trained_tags": CustomTag.objects.filter(versions__is_active=True).count(),
        "workers_alive": queue_health().workers_alive,
    }


def home(request):
    context = {
        "counts": landing_counts(),
        "jobs_in_process": bool(settings.Q_CLUSTER.get("sync")),
    }
    return render(request, "home.html", context)
