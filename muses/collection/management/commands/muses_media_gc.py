from datetime import timedelta

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.utils import timezone

from muses.collection.media import stored_files
from muses.collection.models import Image


class Command(BaseCommand):
    help = (
        "Remove stored image files that no Image row refers to, and list rows whose file is gone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--min-age",
            type=float,
            default=3600,
            help="Only remove files older than this many seconds (uploads in flight are younger).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report, remove nothing.")

    def handle(self, *args, **options):
        referenced = set(Image.objects.values_list("file", flat=True))
        cutoff = timezone.now() - timedelta(seconds=options["min_age"])
        present, orphans = set(), []
        for name, modified in stored_files("images"):
            present.add(name)
            if name not in referenced and modified < cutoff:
                orphans.append(name)
        for name in orphans:
            if not options["dry_run"]:
                default_storage.delete(name)
        # Only names the listing did not show are asked for one by one.
        missing = sorted(name for name in referenced - present if not default_storage.exists(name))
        verb = "would remove" if options["dry_run"] else "removed"
        self.stdout.write(
            f"{verb} {len(orphans)} unreferenced file(s); {len(missing)} row(s) without a file"
        )
        for name in missing:
            self.stderr.write(f"missing file: {name}")
