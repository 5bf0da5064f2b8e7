"""A label-issue report asked for (by the API or the admin): the cached report of the
current labels, or the one job computing it, queued now unless one is already on its way.

One job per report, also when requests race: the check-then-create runs under a lock.
"""

from __future__ import annotations

import hashlib

from django.db import connection, transaction

from curation import exceptions as errors
from curation import jobs
from curation.models import CurationJob
from curation.services.label_issue_reports import (
    SOURCE_CURATOR,
    SUBJECT_NAIVE,
    SUBJECT_TAG,
    LabelIssueReport,
    report_cached,
    report_inputs,
)
from custom_tagging.models import CustomTag
from muses.jobs.models import UNFINISHED_STATES, JobState
from muses.jobs.services import job_expire_if_stale


def naive_label_issues(*, include_curated: bool = False) -> LabelIssueReport | CurationJob:
    """Records of the naive dataset whose image contradicts their class, or the job that is
    computing them (the cross-validated fit takes a while past a few thousand images).
    Classes with fewer examples than folds are left out (and counted); curator-set classes
    are fitted on but not listed unless ``include_curated``."""
    report = _report_or_job(SUBJECT_NAIVE, None)
    if isinstance(report, CurationJob) or include_curated:
        return report
    kept = [issue for issue in report.issues if issue["source"] != SOURCE_CURATOR]
    return LabelIssueReport(**{**report.__dict__, "issues": kept})


def tag_label_issues(*, tag: CustomTag) -> LabelIssueReport | CurationJob:
    """Positives and negatives of a tag whose image contradicts their label, from the
    out-of-fold scores of the folds the tag's training runs; or the job computing them."""
    return _report_or_job(SUBJECT_TAG, tag)


def _report_or_job(subject: str, tag: CustomTag | None) -> LabelIssueReport | CurationJob:
    """The cached report of these very labels, or the job that computes it; in the queue's
    sync mode the job has run already."""
    inputs = report_inputs(subject, tag)
    cached = report_cached(inputs)
    if cached is None:
        job = _label_issues_job(subject, tag)
        cached = report_cached(inputs)
        if cached is None:
            if job.state == JobState.ERROR:
                raise errors.TooFewLabels(job.error)
            return job
    return cached


def _label_issues_job(subject: str, tag: CustomTag | None) -> CurationJob:
    """The unfinished job computing this report, or a new one; a job whose worker died is
    expired, not handed out again."""
    # The stored options keep the key "report" that queued jobs already carry.
    options = {"report": subject, "tag_pk": tag.pk if tag is not None else None}
    with transaction.atomic():
        _job_lock(options)
        waiting = CurationJob.objects.filter(
            kind=CurationJob.Kind.LABEL_ISSUES, state__in=UNFINISHED_STATES, options=options
        ).first()
        if waiting is not None and job_expire_if_stale(waiting).state in UNFINISHED_STATES:
            return waiting
        job = CurationJob.objects.create(kind=CurationJob.Kind.LABEL_ISSUES, options=options)
    return jobs.label_issues_enqueue(job=job)


def _job_lock(options: dict) -> None:
    """Serialise the check-then-create of one report's job: a transaction-scoped advisory
    lock on PostgreSQL; SQLite's immediate transactions already admit one writer."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"label-issues {sorted(options.items())}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
        )
