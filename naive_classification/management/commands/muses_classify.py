from django.core.management.base import BaseCommand, CommandError

from naive_classification.muses_cnn import NotReady
from naive_classification.persistence import ClassMismatchError, ModelFileError
from naive_classification.services import CLASSIFY_BATCH, collection_classify


class Command(BaseCommand):
    help = "Classify every collection image with the naive model and store class and probability."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model-path",
            default=None,
            help="Model file or name in MUSES_MODEL_DIR (default: MUSES_NAIVE_MODEL_PATH).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=CLASSIFY_BATCH,
            help=f"Images per forward pass (default {CLASSIFY_BATCH}).",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            report = collection_classify(
                model_path=options["model_path"],
                batch_size=options["batch_size"],
                progress=options["verbosity"] > 0,
            )
        except (NotReady, ModelFileError, ClassMismatchError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{report.classified} images classified, {report.failed} could not be decoded"
        )
