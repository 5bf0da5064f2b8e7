from pathlib import Path
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from tqdm import tqdm

from muses.collection.importers import get_importer
from muses.collection.imports import BATCH_ROWS, collection_import
from muses.collection.signals import images_imported


class Command(BaseCommand):
    help = "Import a museum collection (records and images) with an importer plugin."

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            help="The file to import (collection.csv), or for the iiif importer a manifest or "
            "collection as a file or an http(s) URL.",
        )
        parser.add_argument(
            "--importer", default="csv", help="Importer plugin: csv (default), adlib-xml or iiif."
        )
        parser.add_argument(
            "--images-root",
            type=Path,
            help="Folder image paths are relative to (default: the file's).",
        )
        parser.add_argument("--museum", default="", help="Museum name for rows that have none.")
        parser.add_argument("--language", default="", help="Language of the records (en, nl, ...).")
        parser.add_argument(
            "--no-features", action="store_true", help="Do not queue feature extraction."
        )

    def handle(self, *args, **options):
        try:
            importer = get_importer(options["importer"])
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
        path = _source(options["path"], importer, options["importer"])
        rows = importer(
            path,
            images_root=options["images_root"],
            museum=options["museum"],
            language=options["language"],
            progress=options["verbosity"] >= 1,
        )
        name = path if isinstance(path, str) else path.name
        with tqdm(desc=f"importing {name}", unit="row", disable=options["verbosity"] < 1) as bar:
            done = []  # rows handled so far, counted even when the bar is hidden (-v 0)

            def on_row():
                done.append(1)
                bar.update(1)

            try:
                report = collection_import(
                    rows=rows, on_row=on_row, batch_rows=importer.batch_rows or BATCH_ROWS
                )
            except DatabaseError as exc:
                raise CommandError(
                    f"{path}: the database failed at row {len(done)} ({exc}). Rows committed "
                    "before it are kept; re-running the import completes it without duplicates."
                ) from None
        for where, note in report.notes:
            self.stdout.write(f"{_where(name, where)}: note: {note}")
        for where, reason in report.skipped:
            self.stderr.write(f"{_where(name, where)}: skipped: {reason}")
        for where, reason in report.image_failures:
            self.stderr.write(f"{_where(name, where)}: image not imported: {reason}")
        failed = f", {len(report.image_failures)} images failed" if report.image_failures else ""
        self.stdout.write(
            f"{report.created} items created, {report.updated} updated, "
            f"{report.images_added} images added, {len(report.skipped)} rows skipped{failed}"
        )
        if report.imported == 0:
            raise CommandError(f"nothing could be imported from {path}")
        # Features and near-duplicates: the vision app's work, done on its receiver.
        images_imported.send(
            sender=self.__class__,
            report=report,
            queue_features=not options["no_features"],
            say=self.stdout.write,
        )


def _source(raw: str, importer, importer_name: str) -> Path | str:
    """An http(s) URL for importers that read them, else a file that must exist."""
    if urlsplit(raw).scheme in ("http", "https"):
        if not getattr(importer, "reads_urls", False):
            raise CommandError(f"the {importer_name} importer reads files, not URLs: {raw}")
        return raw
    path = Path(raw)
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    return path


def _where(name: str, where: int | str) -> str:
    """file.csv:LINE for line-numbered sources; the row's own location (a URL) otherwise."""
    return f"{name}:{where}" if isinstance(where, int) else where
