"""The naive classification page: the exported dataset, export and training jobs (on the one
job mechanism, muses.jobs), and the trained models with their plots, the configured one
marked."""

import json
import zipfile

import pytest
from django.urls import reverse

from exporters.naive import muses_exporter_plugin as exporter
from naive_classification import tasks
from naive_classification.models import NaiveJob

pytestmark = pytest.mark.django_db
URL = reverse("admin:naive_classification")
ASYNC_TASK = "muses.jobs.services.async_task"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture
def folders(settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    settings.MUSES_MODEL_DIR = tmp_path / "models"
    settings.MUSES_PLOT_DIR = tmp_path / "plots"
    for folder in ("models", "plots"):
        (tmp_path / folder).mkdir()
    return tmp_path


@pytest.fixture
def exported(folders, collection):
    exporter.do_export(output=folders / "dataset", out=open("/dev/null", "w"), progress=False)
    return folders / "dataset"


def save_model(folder, name: str, accuracy: float = 0.75):
    """A .keras file as MUSES saves it, as far as the page reads it: the metadata entry."""
    metadata = {
        "model_type": "efficientnet_lite0",
        "target_size": [128, 128],
        "history": [{"phase": "transfer", "history": {"loss": [1.0, 0.5, 0.4]}}],
        "evaluation": {
            "split": "test",
            "accuracy": accuracy,
            "classes": [
                {"name": "vessel", "precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 2}
            ],
            "confusion": [[2]],
        },
        "saved": "2026-01-02T03:04:05+00:00",
    }
    with zipfile.ZipFile(folder / f"{name}.keras", "w") as archive:
        archive.writestr("muses.json", json.dumps(metadata))


def test_the_naive_page_is_in_the_admin_index_and_sidebar(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Naive classification" in html and f'href="{URL}"' in html
    sidebar = admin_client.get(reverse("admin:collection_image_changelist")).content.decode()
    assert f'href="{URL}"' in sidebar


def test_django_q2s_task_admin_is_in_the_same_menu(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:django_q_success_changelist") in html
    assert reverse("admin:django_q_failure_changelist") in html


def test_the_naive_page_says_when_no_dataset_was_exported(admin_client, folders):
    assert 'data-testid="no-dataset"' in admin_client.get(URL).content.decode()


def test_the_naive_page_shows_per_class_counts_per_split(admin_client, exported):
    response = admin_client.get(URL)
    dataset = response.context["dataset"]
    assert dataset.exists
    assert ["vessel", 1, 0, 0, 1] in dataset.rows
    assert dataset.totals == [5, 0, 0, 5]
    assert "<th>validation</th>" in response.content.decode().replace(' class="muses-num"', "")


def test_the_naive_page_counts_records_without_a_class_word(admin_client, folders, collection):
    response = admin_client.get(URL)
    assert response.context["labelling"].skipped == {"no class word": 1}
    assert "no class word: <strong>1</strong>" in response.content.decode()


def test_the_naive_page_counts_ambiguous_records(
    admin_client, folders, collection, no_class_priority
):
    skipped = admin_client.get(URL).context["labelling"].skipped
    assert skipped == {"no class word": 1, "several classes": 1}


def test_the_naive_page_counts_curator_classes_apart_from_words(admin_client, folders, collection):
    collection["cleveland-1914-2"].__class__.objects.filter(image_id="cleveland-1914-2").update(
        curator_class="tool"
    )
    labelling = admin_client.get(URL).context["labelling"]
    assert labelling.by_curator == {"tool": 1} and labelling.skipped == {}


def test_export_dataset_queues_a_task_that_writes_the_dataset(admin_client, folders, collection):
    response = admin_client.post(reverse("admin:naive_classification_export"))
    task_id = response.url.split("task=")[1]
    assert (folders / "dataset" / "manifest.csv").is_file()
    job = NaiveJob.objects.get(task_id=task_id)
    assert job.state == "success" and job.kind == "naive_export"
    assert job.result["images"] > 0 and job.progress == 1.0
    page = admin_client.get(response.url).content.decode()
    assert 'data-testid="dataset-table"' in page
    assert f'data-status-url="{reverse("admin:naive_classification_task", args=[task_id])}"' in page


def test_a_failed_export_shows_its_message(admin_client, folders):
    response = admin_client.post(reverse("admin:naive_classification_export"), follow=True)
    assert "The dataset export failed: No image got a class" in response.content.decode()
    assert NaiveJob.objects.get().state == "error"


def test_task_status_reports_a_failed_task_as_an_error_with_its_message(admin_client):
    job = NaiveJob.objects.create(kind="naive_export", state="running")

    class FailedTask:
        success = False
        args = (job.pk,)
        result = "Boom : Traceback (most recent call last)"

    tasks.naive_job_hook(FailedTask())
    url = reverse("admin:naive_classification_task", args=[job.task_id])
    status = admin_client.get(url).json()
    assert status["state"] == "error" and status["error"] == "Boom"


def test_task_status_of_an_unknown_task_is_not_found(admin_client):
    response = admin_client.get(reverse("admin:naive_classification_task", args=["a" * 32]))
    assert response.status_code == 404 and "No naive job" in response.json()["detail"]


def test_the_export_respects_the_cap_per_class(admin_client, folders, collection, monkeypatch):
    queued = []
    monkeypatch.setattr(ASYNC_TASK, lambda *a, **kw: queued.append((a, kw)))
    admin_client.post(reverse("admin:naive_classification_export"), {"max_images": "3"})
    job = NaiveJob.objects.get()
    assert job.options["max_images"] == 3 and job.options["exporter"] == "naive"
    assert queued[0][0] == ("naive_classification.tasks.naive_job_task", job.pk)


def test_train_queues_the_training_task_with_the_forms_options(admin_client, folders, monkeypatch):
    queued = []
    monkeypatch.setattr(ASYNC_TASK, lambda *a, **kw: queued.append((a, kw)))
    form = {
        "model_name": "trial_1",
        "model_type": "efficientnet_lite0",
        "weights": "none",
        "epochs": "4",
        "fine_tuning": "on",
        "target_size": "96",
    }
    response = admin_client.post(reverse("admin:naive_classification_train"), form)
    job = NaiveJob.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"?task={job.task_id}")
    args, options = queued[0]
    assert args == ("naive_classification.tasks.naive_job_task", job.pk)
    assert job.kind == "naive_training" and job.state == "queued"
    assert job.options == {
        "model_name": "trial_1",
        "model_type": "efficientnet_lite0",
        "weights": None,
        "epochs": 4,
        "fine_tuning": True,
        "target_size": 96,
        "plot_performance": False,
    }
    assert options["task_name"] == "naive training of trial_1"


def test_a_queued_job_is_listed_on_the_page_and_can_be_cancelled(admin_client, folders):
    job = NaiveJob.objects.create(kind="naive_training", options={"model_name": "m1"})
    page = admin_client.get(URL).content.decode()
    assert f'data-task-id="{job.task_id}"' in page and "training of m1" in page
    cancel = reverse("admin:naive_classification_task_cancel", args=[job.task_id])
    admin_client.post(cancel)
    job.refresh_from_db()
    assert job.state == "cancelled"
    again = admin_client.post(cancel, follow=True).content.decode()
    assert "The task is already cancelled; it cannot be cancelled." in again


def test_train_refuses_an_invalid_model_name(admin_client, folders, monkeypatch):
    monkeypatch.setattr(ASYNC_TASK, pytest.fail)
    form = {
        "model_name": "../x",
        "model_type": "vgg",
        "weights": "imagenet",
        "epochs": "2",
        "target_size": "128",
    }
    response = admin_client.post(reverse("admin:naive_classification_train"), form)
    assert response.status_code == 200 and "is invalid" in response.content.decode()


def test_fine_tuning_in_one_epoch_is_refused(admin_client, folders, monkeypatch):
    monkeypatch.setattr(ASYNC_TASK, pytest.fail)
    form = {
        "model_name": "m",
        "model_type": "vgg",
        "weights": "imagenet",
        "epochs": "1",
        "fine_tuning": "on",
        "target_size": "128",
    }
    response = admin_client.post(reverse("admin:naive_classification_train"), form)
    assert "Fine-tuning needs at least 2 epochs." in response.content.decode()


def test_jobs_need_permission_to_change_images(client, django_user_model, folders):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    assert client.get(URL).status_code == 200
    assert 'data-testid="export"' not in client.get(URL).content.decode()
    assert client.post(reverse("admin:naive_classification_export")).status_code == 403


def test_the_page_needs_a_staff_login(client, folders):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_the_naive_page_lists_trained_models_with_test_figures(admin_client, folders):
    save_model(folders / "models", "naive_a", accuracy=0.75)
    html = admin_client.get(URL).content.decode()
    assert "<h2>naive_a" in html and "<strong>0.750</strong> on the test split" in html
    assert "efficientnet_lite0, 128 px,\n          3 epochs" in html


def test_the_naive_page_shows_each_models_plots(admin_client, folders):
    save_model(folders / "models", "naive_a")
    (folders / "plots" / "naive_a.png").write_bytes(PNG)
    (folders / "plots" / "naive_a_confusion.png").write_bytes(PNG)
    html = admin_client.get(URL).content.decode()
    for name in ("naive_a.png", "naive_a_confusion.png"):
        url = reverse("admin:naive_classification_plot", args=[name])
        assert f'<img src="{url}"' in html
        assert admin_client.get(url).getvalue() == PNG


def test_plots_are_served_only_from_the_plot_folder(admin_client, folders):
    (folders / "secret.png").write_bytes(PNG)
    url = reverse("admin:naive_classification_plot", args=["x.png"]).replace("x.png", "")
    assert admin_client.get(url + "..%2Fsecret.png").status_code == 404
    assert admin_client.get(url + "missing.png").status_code == 404


def test_the_configured_model_is_marked(admin_client, folders, settings):
    save_model(folders / "models", "naive_a")
    save_model(folders / "models", "naive_b")
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": "naive_b"}}}
    response = admin_client.get(URL)
    configured = [m.name for m in response.context["models"] if m.configured]
    assert configured == ["naive_b"]
    assert str(folders / "models" / "naive_b.keras") in response.content.decode()


def test_a_configured_model_that_is_missing_is_reported(admin_client, folders, settings):
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": "gone"}}}
    assert "No model file at gone" in admin_client.get(URL).content.decode()


def test_a_file_that_is_not_a_muses_model_is_listed_with_the_reason(admin_client, folders):
    (folders / "models" / "broken.keras").write_bytes(b"not a zip")
    assert "is not a model saved by MUSES" in admin_client.get(URL).content.decode()


def test_the_naive_page_counts_records_decided_by_the_class_priority(
    admin_client, folders, collection
):
    response = admin_client.get(URL)
    assert response.context["labelling"].prioritised == 1  # bead necklace with scarab
    assert "decided by <code>class_priority</code>: <strong>1</strong>" in response.content.decode()
