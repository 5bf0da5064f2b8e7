import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException

from exporters import NothingToExport, UnknownExporter, exporter_names, get_exporter
from naive_classification.jobs import dataset_export_enqueue


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
        parser.add_argument(
            "--async",
            action="store_true",
            dest="run_async",
            help="Queue the export as a job (on the admin page and at /status) and print its id.",
        )

    def handle(self, *args, **options):
        try:
            exporter = get_exporter(options["exporter"])
        except UnknownExporter as exc:
            raise CommandError(str(exc)) from None
        kwargs = {} if options["max_images"] is None else {"max_images": options["max_images"]}
        if options["run_async"]:
            self.enqueue(options)
            return
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

    def enqueue(self, options) -> None:
        if options["dry_run"]:
            raise CommandError("--dry-run only prints what an export would write: drop --async")
        output = str(Path(options["output"]).resolve()) if options["output"] else None
        try:
            job = dataset_export_enqueue(
                exporter=options["exporter"], max_images=options["max_images"], output=output
            )
        except APIException as exc:  # the queue is down
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(
            f"queued the {options['exporter']} export: task {job.task_id} "
            f"(now {job.state}; follow it at /status/{job.task_id})"
        )
        if job.state == "error":
            raise CommandError(f"the export failed: {job.error}")
