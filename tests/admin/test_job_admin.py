"""Every kind of job has the same admin: listed with its kind and state, filtered by them,
shown read-only."""

import pytest
from django.urls import reverse

from curation.models import CurationJob
from custom_tagging.models import PredictionJob
from muses.vision.models import VisionJob
from naive_classification.models import NaiveJob

pytestmark = pytest.mark.django_db
JOBS = [
    (NaiveJob, {"kind": "naive_export"}),
    (CurationJob, {"kind": "map_layout"}),
    (VisionJob, {"kind": "near_duplicates"}),
    (PredictionJob, {"tag_names": ["red"]}),
]


@pytest.mark.parametrize(("model", "fields"), JOBS, ids=[m.__name__ for m, _ in JOBS])
def test_each_kind_of_job_is_listed_and_shown_read_only(admin_client, model, fields):
    job = model.objects.create(**fields)
    meta = model._meta
    listing = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert listing.status_code == 200 and job.task_id in listing.content.decode()
    assert b"By state" in listing.content
    page = admin_client.get(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[job.pk])
    )
    assert page.status_code == 200 and job.task_id in page.content.decode()
    assert b'name="state"' not in page.content  # nothing to edit
