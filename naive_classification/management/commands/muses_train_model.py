import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException

from exporters.dataset import DatasetMissing, manifest_path
from muses.vision.backbones import BackboneUnavailable
from naive_classification.data import DatasetClassesMismatch
from naive_classification.definitions import MODEL_BUILDERS, square_target_size
from naive_classification.jobs import classifier_train_enqueue
from naive_classification.muses_cnn import NotReady
from naive_classification.persistence import check_model_name
from naive_classification.services import classifier_train, epochs_split

WEIGHTS = {"imagenet": "imagenet", "none": None}


class Command(BaseCommand):
    help = "Train the naive classifier on the exported dataset and save it as a .keras model."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model-name", required=True, help="Name of the saved model (in MUSES_MODEL_DIR)."
        )
        parser.add_argument("--epochs", type=int, required=True, help="Number of epochs in all.")
        parser.add_argument(
            "--plot-performance",
            action="store_true",
            help="Write accuracy and loss curves to MUSES_PLOT_DIR.",
        )
        parser.add_argument(
            "--fine-tuning",
            action="store_true",
            help="Split the epochs into transfer learning, then fine-tuning of the base's top.",
        )
        parser.add_argument(
            "--model-type",
            default="vgg",
            help=f"Model definition: one of {', '.join(MODEL_BUILDERS)} (default vgg).",
        )
        parser.add_argument(
            "--target-size", type=int, default=128, help="Image side in pixels (default 128)."
        )
        parser.add_argument(
            "--weights",
            default="imagenet",
            help="Base weights: imagenet (default) or none (random, for quick trials).",
        )
        parser.add_argument(
            "--async",
            action="store_true",
            dest="run_async",
            help="Queue the training as a job (on the admin page and at /status) and print its id.",
        )

    def handle(self, *args, **options):
        job = self.validated(options)
        if options["run_async"]:
            try:
                queued = classifier_train_enqueue(options=job)
            except APIException as exc:  # the queue is down
                raise CommandError(str(exc.detail)) from None
            self.stdout.write(
                f"queued training of {job['model_name']}: task {queued.task_id} "
                f"(now {queued.state}; follow it at /status/{queued.task_id})"
            )
            if queued.state == "error":
                raise CommandError(f"the training failed: {queued.error}")
            return
        try:
            with evaluation_not_logged():
                result = classifier_train(**job, progress=options["verbosity"] > 0)
        except (BackboneUnavailable, NotReady, DatasetClassesMismatch, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.report(result)

    def validated(self, options) -> dict:
        """The training job's arguments, or a CommandError saying what is wrong."""
        try:
            check_model_name(options["model_name"])
            square_target_size(options["target_size"])
            epochs_split(epochs=self.epochs(options["epochs"]), fine_tuning=options["fine_tuning"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["model_type"] not in MODEL_BUILDERS:
            raise CommandError(
                f"Unknown model type {options['model_type']!r}; "
                f"choose one of: {', '.join(MODEL_BUILDERS)}"
            )
        if options["weights"] not in WEIGHTS:
            raise CommandError(f"--weights must be imagenet or none, not {options['weights']!r}")
        try:
            manifest_path(settings.MUSES_DATASET_DIR)
        except DatasetMissing as exc:
            raise CommandError(str(exc)) from None
        return {
            "model_name": options["model_name"],
            "epochs": options["epochs"],
            "fine_tuning": options["fine_tuning"],
            "model_type": options["model_type"],
            "target_size": options["target_size"],
            "weights": WEIGHTS[options["weights"]],
            "plot_performance": options["plot_performance"],
        }

    @staticmethod
    def epochs(epochs: int) -> int:
        if epochs < 1:
            raise ValueError(f"--epochs must be at least 1, not {epochs}")
        return epochs

    def report(self, result) -> None:
        # The one evaluation table: the classifier's own log line of it is filtered out.
        if result.evaluation is not None:
            self.stdout.write(result.evaluation.table())
        for plot in result.plots:
            self.stdout.write(f"plot: {plot}")
        self.stdout.write(f"saved {result.model_path}")


class _EvaluationTableFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(EVALUATION_LOG)


EVALUATION_LOG = "test split after"


@contextmanager
def evaluation_not_logged():
    """The classifier logs its test evaluation table for Python callers; this command
    prints the table itself, so the log line would show it twice."""
    log = logging.getLogger("naive_classification.muses_cnn")
    table_filter = _EvaluationTableFilter()
    log.addFilter(table_filter)
    try:
        yield
    finally:
        log.removeFilter(table_filter)
