import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException
from tqdm import tqdm

from custom_tagging.models import PredictionJob
from muses.jobs.services import job_get
from publishing.records import FORMATS, latest_prediction_job, predictions_export


class Command(BaseCommand):
    help = "Export predictions keyed on museum + object number as CSV or JSON Lines."

    def add_arguments(self, parser):
        parser.add_argument(
            "--format", choices=sorted(FORMATS), default="csv", help="csv (default) or jsonl."
        )
        parser.add_argument(
            "--job",
            default="",
            help="task_id of a finished library prediction whose tag scores to include "
            "(default: the latest finished one; 'none' for the naive class only).",
        )
        parser.add_argument("--output", type=Path, help="File to write (default: standard output).")

    def handle(self, *args, **options):
        job = self._job(options["job"])
        try:
            chunks = predictions_export(job=job, fmt=options["format"])
        except APIException as exc:  # the job's CSV is not ready or gone
            raise CommandError(str(exc.detail)) from None
        output = options["output"]
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        self._write(output, chunks, quiet=options["verbosity"] < 1)
        source = f"library prediction {job.task_id}" if job else "the naive class only"
        self.stderr.write(f"wrote {output} ({source})")

    def _job(self, task_id: str) -> PredictionJob | None:
        if task_id == "none":
            return None
        if not task_id:
            return latest_prediction_job()
        try:
            job = job_get(task_id=task_id)
        except APIException as exc:
            raise CommandError(str(exc.detail)) from None
        if not isinstance(job, PredictionJob):
            raise CommandError(f"{task_id} is a training task, not a library prediction")
        return job

    def _write(self, output: Path, chunks, *, quiet: bool) -> None:
        """Under a temporary name, renamed when complete: a failed export leaves no half file
        and keeps an older export at that path."""
        partial = output.with_name(f".{output.name}.partial")
        try:
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                for chunk in tqdm(
                    chunks, desc="exporting", unit="chunk", disable=quiet, file=sys.stderr
                ):
                    handle.write(chunk)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"{output}: cannot write ({exc.strerror})") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
