import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

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
        root = Path(settings.MEDIA_ROOT)
        referenced = set(Image.objects.values_list("file", flat=True))
        cutoff = time.time() - options["min_age"]
        orphans = (
            [
                path
                for path in (root / "images").rglob("*")
                if path.is_file()
                and path.relative_to(root).as_posix() not in referenced
                and path.stat().st_mtime < cutoff
            ]
            if (root / "images").exists()
            else []
        )
        for path in orphans:
            if not options["dry_run"]:
                path.unlink(missing_ok=True)
        missing = [name for name in referenced if not (root / name).exists()]
        verb = "would remove" if options["dry_run"] else "removed"
        self.stdout.write(
            f"{verb} {len(orphans)} unreferenced file(s); {len(missing)} row(s) without a file"
        )
        for name in missing:
            self.stderr.write(f"missing file: {name}")
