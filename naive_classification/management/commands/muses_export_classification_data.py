import argparse

from django.core.management.base import BaseCommand, CommandError

from exporters import NothingToExport, UnknownExporter, exporter_names, get_exporter


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


class Command(BaseCommand):
    help = "Export the collection as a labelled train/validation/test image dataset."

    def add_arguments(self, parser):
        parser.add_argument(
            "--exporter",
            required=True,
            help=f"Exporter plugin name: one of {', '.join(exporter_names())}.",
        )
        parser.add_argument(
            "--max-images",
            type=positive_int,
            default=None,
            help="At most this many images per class (default: the exporter's own cap).",
        )
        parser.add_argument(
            "--output",
            default=None,
            help="Folder to write the dataset to (default MUSES_DATASET_DIR).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Label and count, but write nothing."
        )

    def handle(self, *args, **options):
        try:
            exporter = get_exporter(options["exporter"])
        except UnknownExporter as exc:
            raise CommandError(str(exc)) from None
        kwargs = {} if options["max_images"] is None else {"max_images": options["max_images"]}
        try:
            exporter.do_export(
                **kwargs,
                output=options["output"],
                dry_run=options["dry_run"],
                out=self.stdout,
                progress=options["verbosity"] > 0,
            )
        except NothingToExport as exc:
            raise CommandError(str(exc)) from None
