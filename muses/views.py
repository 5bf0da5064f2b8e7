"""The landing page at "/": what MUSES is, where to go, and how the library stands; and the
site's icon."""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse
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


FAVICON = Path(__file__).resolve().parent / "static" / "muses" / "favicon.ico"
FAVICON_MAX_AGE_S = 86400


def favicon(request):
    """Browsers ask every site for /favicon.ico, whatever its pages link."""
    response = FileResponse(FAVICON.open("rb"), content_type="image/x-icon")
    response["Cache-Control"] = f"public, max-age={FAVICON_MAX_AGE_S}"
    return response
