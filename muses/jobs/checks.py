"""`manage.py check`: jobs that wait for a queue worker that is not there."""

from django.core import checks
from django.db import DatabaseError

from muses.jobs.workers import waiting_jobs_problem


def waiting_jobs_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        problem = waiting_jobs_problem()
    except DatabaseError:  # not migrated yet: no job can wait
        return []
    if not problem:
        return []
    return [
        checks.Warning(
            f"Jobs are waiting and {problem}.",
            hint="Background jobs (training, library predictions, naive exports) run in django-q2 "
            "queue workers.",
            id="jobs.W001",
        )
    ]
