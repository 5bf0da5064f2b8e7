"""What the apps' admin pages share: who may change images, the URL of a page view, and
the background job a page starts and follows (its live status, the message once asked).

Below every app: this module imports the jobs models and nothing of the apps built on them.
"""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from muses.jobs.models import JobState


def can_change_images(request) -> bool:
    """Labelling, fixing and merging all change images: one permission guards them."""
    return request.user.has_perm("collection.change_image")


def page_view(site, func: Callable, *, post: bool = False) -> Callable:
    """``func(request, site, **kwargs)`` as an admin view of ``site`` (login, staff), POST
    only if ``post``."""
    wrapped = require_POST(func) if post else func
    return site.admin_view(lambda request, **kwargs: wrapped(request, site, **kwargs))


def job_followed(job, prefix: str = "") -> dict:
    """What admin/muses/job_status.html needs to follow a job on a page that waits on it:
    ``<prefix>job``, its /status URL (polled) and its admin page (linked if it fails)."""
    meta = job._meta
    return {
        f"{prefix}job": job,
        f"{prefix}status_url": reverse("status", args=[job.task_id]),
        f"{prefix}job_url": reverse(
            f"admin:{meta.app_label}_{meta.model_name}_change", args=[job.pk]
        ),
    }


def latest_job_followed(jobs, prefix: str) -> dict:
    """The latest of ``jobs``, followed live while it runs; shown with its error if it
    failed; nothing once it succeeded or was cancelled."""
    job = jobs.order_by("-pk").first()
    if job is None or job.state in (JobState.SUCCESS, JobState.CANCELLED):
        return {}
    return job_followed(job, prefix=prefix)


def job_state_say(request, job, *, failed: str, done: Callable[[dict], str], running: str):
    """Tell the user how a job just asked for stands: ``failed`` (its error follows),
    ``done(result)`` or ``running`` (formatted with ``task_id``)."""
    if job.state == JobState.ERROR:
        messages.error(request, f"{failed}: {job.error}")
    elif job.state == JobState.SUCCESS:
        messages.success(request, done(job.result))
    else:
        messages.success(request, running.format(task_id=job.task_id))


def job_start_view(request, *, enqueue: Callable, say: Callable, back: str):
    """A POST that starts a job for the user: refused without the permission to change
    images, a queue that is down said as an error, else ``say(request, job)``; then
    back to ``back`` (a URL name)."""
    if not can_change_images(request):
        raise PermissionDenied
    try:
        job = enqueue(user=request.user)
    except APIException as exc:  # the queue is down
        messages.error(request, str(exc.detail))
    else:
        say(request, job)
    return HttpResponseRedirect(reverse(back))
