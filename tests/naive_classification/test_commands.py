"""The three commands: export, train and classify, and their bad options."""

import io
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from naive_classification.models import NaiveJob
from naive_classification.persistence import read_metadata
from tests.naive_classification.conftest import TINY


def run(name, *args, **options):
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO(), verbosity=0, **options)
    return out.getvalue()


# --- muses_export_classification_data ----------------------------------------------------


def test_export_lists_the_known_exporters_for_an_unknown_one(db):
    with pytest.raises(CommandError, match="Unknown exporter 'clever'; known exporters: naive"):
        run("muses_export_classification_data", exporter="clever")


def test_export_refuses_a_cap_below_one(db):
    with pytest.raises(CommandError, match="at least 1"):
        run("muses_export_classification_data", "--exporter", "naive", "--max-images", "0")


def test_export_of_an_empty_collection_says_to_import_first(db, settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    with pytest.raises(CommandError, match="import a collection first"):
        run("muses_export_classification_data", exporter="naive")


def test_export_prints_the_table_and_writes_the_dataset(egyptian_items, settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    out = run("muses_export_classification_data", exporter="naive", max_images=2)
    assert "total" in out and "Writing 20 images" in out
    assert (tmp_path / "dataset" / "manifest.csv").exists()


def test_export_async_queues_a_job_that_writes_the_dataset(egyptian_items, settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    out = run("muses_export_classification_data", "--exporter", "naive", "--async")
    job = NaiveJob.objects.get()
    assert f"task {job.task_id}" in out and job.kind == "naive_export"
    assert job.state == "success" and job.result["images"] == 30
    assert (tmp_path / "dataset" / "manifest.csv").exists()


def test_an_export_cancelled_midway_leaves_the_previous_dataset(egyptian_items, settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    run("muses_export_classification_data", exporter="naive", max_images=1)
    before = (tmp_path / "dataset" / "manifest.csv").read_text()

    def cancel(**kwargs):
        NaiveJob.objects.update(state="cancelled")
        raise_if_cancelled(**kwargs)

    from muses.jobs.services import job_progress as raise_if_cancelled

    with mock.patch("naive_classification.jobs.job_progress", cancel):
        out = run("muses_export_classification_data", "--exporter", "naive", "--async")
    assert "now cancelled" in out
    assert (tmp_path / "dataset" / "manifest.csv").read_text() == before


def test_export_async_refuses_a_dry_run(db):
    with pytest.raises(CommandError, match="drop --async"):
        run("muses_export_classification_data", "--exporter", "naive", "--async", "--dry-run")


def test_export_dry_run_writes_nothing(egyptian_items, settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    out = run("muses_export_classification_data", exporter="naive", dry_run=True)
    assert "Would write 30 images" in out
    assert not (tmp_path / "dataset").exists()


# --- muses_train_model ---------------------------------------------------------------------


@pytest.fixture
def with_dataset(settings, tiny_dataset):
    settings.MUSES_DATASET_DIR = tiny_dataset
    return tiny_dataset


def train(*args):
    return run("muses_train_model", "--model-name", "m", *args)


def test_training_without_a_dataset_says_to_run_the_exporter(settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "none"
    with pytest.raises(CommandError, match="muses_export_classification_data --exporter naive"):
        train("--epochs", "1")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "1", "--target-size", "16"], "32 to 1024 px"),
        (["--epochs", "0"], "at least 1"),
        (["--epochs", "1", "--fine-tuning"], "fine-tuning needs at least 2 epochs"),
        (["--epochs", "1", "--model-type", "resnet"], "choose one of: vgg, efficientnet_lite0"),
        (["--epochs", "1", "--weights", "random"], "imagenet or none"),
    ],
)
def test_training_rejects_bad_options(with_dataset, args, message):
    with pytest.raises(CommandError, match=message):
        train(*args)


def test_training_rejects_a_model_name_that_is_a_path(with_dataset):
    with pytest.raises(CommandError, match="model name '../evil' is invalid"):
        run("muses_train_model", "--model-name", "../evil", "--epochs", "1")


def test_training_with_unavailable_vgg_weights_says_where_to_put_them(with_dataset, monkeypatch):
    from muses.vision import backbones

    def unavailable():
        raise backbones.BackboneUnavailable("Place vgg19_weights.h5 in MUSES_WEIGHTS_DIR")

    monkeypatch.setattr(backbones, "vgg19_weights_path", unavailable)
    with pytest.raises(CommandError, match="Place vgg19_weights.h5 in MUSES_WEIGHTS_DIR"):
        train("--epochs", "1", "--target-size", str(TINY))


@pytest.mark.django_db
def test_training_async_queues_the_task_and_prints_its_id(with_dataset):
    with mock.patch("muses.jobs.services.async_task") as queue:
        out = train("--epochs", "4", "--fine-tuning", "--async", "--weights", "none")
    job = NaiveJob.objects.get()
    assert f"task {job.task_id}" in out and job.kind == "naive_training"
    path, pk = queue.call_args.args
    assert path == "naive_classification.tasks.naive_job_task" and pk == job.pk
    assert job.options["epochs"] == 4
    assert job.options["weights"] is None


@pytest.mark.django_db
def test_the_queued_task_trains_transfer_then_fine_tuning_and_saves(with_dataset, settings):
    # Q_CLUSTER["sync"] is on in tests: the queued task runs here, by its dotted path.
    out = run(
        "muses_train_model",
        "--model-name",
        "queued",
        "--epochs",
        "2",
        "--fine-tuning",
        "--plot-performance",
        "--target-size",
        str(TINY),
        "--weights",
        "none",
        "--async",
    )
    assert "queued training of queued" in out
    saved = read_metadata(settings.MUSES_MODEL_DIR / "queued.keras")
    assert [p["phase"] for p in saved["history"]] == ["transfer", "fine-tuning"]
    assert (settings.MUSES_PLOT_DIR / "queued.png").exists()
    job = NaiveJob.objects.get()
    assert job.state == "success" and job.progress == 1.0
    assert job.result["model_path"] == str(settings.MUSES_MODEL_DIR / "queued.keras")


@pytest.mark.django_db
def test_a_training_cancelled_after_its_first_epoch_saves_no_model(with_dataset, settings):
    from muses.jobs import services as jobs

    real_progress = jobs.job_progress

    def cancel_at_the_first_epoch(**kwargs):
        NaiveJob.objects.update(state="cancelled")
        real_progress(**kwargs)

    with mock.patch("naive_classification.jobs.job_progress", cancel_at_the_first_epoch):
        out = run(
            "muses_train_model",
            *("--model-name", "never_saved", "--epochs", "3", "--target-size", str(TINY)),
            *("--weights", "none", "--async"),
        )
    assert "now cancelled" in out
    assert not (settings.MUSES_MODEL_DIR / "never_saved.keras").exists()
    assert NaiveJob.objects.get().result == {}


@pytest.mark.django_db
def test_training_prints_its_evaluation_table_once(with_dataset, caplog):
    caplog.set_level("INFO")
    out = train("--epochs", "1", "--target-size", str(TINY), "--weights", "none")
    table_rows = [line for line in (out + caplog.text).splitlines() if "accuracy" in line]
    assert len(table_rows) == 1, out + caplog.text


# --- muses_classify ------------------------------------------------------------------------


def test_classify_without_a_configured_model_says_how_to_configure_one(db, settings):
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": ""}}}
    with pytest.raises(CommandError, match="MUSES_NAIVE_MODEL_PATH"):
        run("muses_classify")


def test_classify_with_a_missing_model_file_says_where_it_looked(db, tmp_path):
    with pytest.raises(CommandError, match="No model file at"):
        run("muses_classify", model_path=str(tmp_path / "gone.keras"))


def test_classify_refuses_a_batch_size_below_one(db):
    with pytest.raises(CommandError, match="at least 1"):
        run("muses_classify", batch_size=0)


def test_export_async_with_the_queue_down_says_so_and_the_job_is_failed(db):
    with mock.patch("muses.jobs.services.async_task", side_effect=ConnectionError("redis down")):
        with pytest.raises(CommandError, match="job queue is not available: redis down"):
            run("muses_export_classification_data", "--exporter", "naive", "--async")
    assert NaiveJob.objects.get().state == "error"


@pytest.mark.django_db
def test_training_async_with_the_queue_down_says_so_and_the_job_is_failed(with_dataset):
    with mock.patch("muses.jobs.services.async_task", side_effect=ConnectionError("redis down")):
        with pytest.raises(CommandError, match="job queue is not available: redis down"):
            train("--epochs", "1", "--async", "--weights", "none")
    assert NaiveJob.objects.get().state == "error"
