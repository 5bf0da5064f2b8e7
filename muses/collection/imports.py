"""The import workflow: rows from any importer plugin into Items and Images, idempotently."""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from muses.collection.decode import ImageDecodeError
from muses.collection.importers.rows import FetchedImage, ImportRow
from muses.collection.models import IMAGE_ID_RE, Image, Item
from muses.collection.services import ImageIdTaken, image_store

BATCH_ROWS = 200  # rows per transaction: fast on SQLite, and a crash loses at most this much


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    images_added: int = 0
    # (line number, or where the row came from when it has no line, such as a manifest URL;
    # reason)
    skipped: list[tuple[int | str, str]] = field(default_factory=list)
    image_failures: list[tuple[int | str, str]] = field(default_factory=list)
    notes: list[tuple[int | str, str]] = field(default_factory=list)
    new_image_pks: list[int] = field(default_factory=list)
    # Every item the source names that was stored (created or updated): a re-run after a
    # crash finds the images of the source that still lack features through these.
    item_pks: list[int] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


def collection_import(
    *,
    rows: Iterable[ImportRow],
    on_row: Callable[[], None] = lambda: None,
    batch_rows: int = BATCH_ROWS,
) -> ImportReport:
    """Store every good row; report bad ones with their line number and skip them."""
    report = ImportReport()
    batch: list[ImportRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_rows:
            _import_batch(batch, report, on_row)
            batch = []
    _import_batch(batch, report, on_row)
    return report


def _import_batch(batch: list[ImportRow], report: ImportReport, on_row) -> None:
    with transaction.atomic():
        for row in batch:
            _import_row(row, report)
            on_row()


def _import_row(row: ImportRow, report: ImportReport) -> None:
    where = row.where or row.line
    report.notes.extend((where, note) for note in row.notes)
    if row.problems:
        report.skipped.append((where, "; ".join(row.problems)))
        return
    data = None
    if row.image_path is not None:
        try:
            data = _read_image(row.image_path)
        except ImageDecodeError as exc:
            report.skipped.append((where, str(exc)))
            return
    try:
        with transaction.atomic():  # a savepoint: a failing image leaves no half item
            item, created = _upsert_item(row.fields)
            if data is not None:
                _attach_image(item, data, row.image_path, report)
    except ImageDecodeError as exc:
        report.skipped.append((where, str(exc)))
        return
    report.item_pks.append(item.pk)
    if created:
        report.created += 1
    else:
        report.updated += 1
    _claim_canvases(item, row)
    for fetched in row.images:
        _attach_fetched(item, fetched, report, where)
    report.image_failures.extend((where, failure) for failure in row.image_failures)


def _claim_canvases(item: Item, row: ImportRow) -> None:
    """Images of the row's canvases stored under another item move to this one: a canvas
    that gained an object number of its own becomes its own object on re-import."""
    if row.iiif_canvases:
        Image.objects.filter(
            iiif_manifest=row.iiif_manifest, iiif_canvas__in=row.iiif_canvases
        ).exclude(item=item).update(item=item)


def _read_image(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(f"image {path.name}: file not found") from None
    except OSError as exc:
        raise ImageDecodeError(f"image {path.name}: cannot read ({exc.strerror})") from None
    if not data:
        raise ImageDecodeError(f"image {path.name}: the file is empty")
    return data


def _upsert_item(fields: dict[str, str]) -> tuple[Item, bool]:
    key = {"museum": fields["museum"], "object_number": fields["object_number"]}
    values = {k: v for k, v in fields.items() if k not in key}
    return Item.objects.update_or_create(**key, defaults=values)


def _attach_image(item: Item, data: bytes, path: Path, report: ImportReport) -> None:
    sha256 = hashlib.sha256(data).hexdigest()
    if Image.objects.filter(item=item, sha256=sha256).exists():
        return  # same bytes already imported for this item
    image = image_store(data=data, name=path.name, image_id=_image_id_for(item), item=item)
    report.images_added += 1
    report.new_image_pks.append(image.pk)


def _attach_fetched(item: Item, fetched: FetchedImage, report: ImportReport, where) -> None:
    """One downloaded image, in its own savepoint: a bad one is reported, the others stay."""
    try:
        with transaction.atomic():
            image = _fetched_image(item, fetched)
    except (ImageDecodeError, ImageIdTaken) as exc:
        report.image_failures.append((where, f"canvas {fetched.iiif_canvas}: {exc}"))
        return
    if image is not None:
        report.images_added += 1
        report.new_image_pks.append(image.pk)


def _fetched_image(item: Item, fetched: FetchedImage) -> Image | None:
    source = {"iiif_manifest": fetched.iiif_manifest, "iiif_canvas": fetched.iiif_canvas}
    if fetched.iiif_canvas and Image.objects.filter(**source).exists():
        return None
    sha256 = hashlib.sha256(fetched.data).hexdigest()
    # The same picture imported earlier from a file: it now knows its canvas.
    if Image.objects.filter(item=item, sha256=sha256, iiif_canvas="").update(**source):
        return None
    image = image_store(
        data=fetched.data,
        name=fetched.name,
        image_id=_image_id_for(item),
        item=item,
        decoded=fetched.decoded,
    )
    Image.objects.filter(pk=image.pk).update(**source, iiif_body=fetched.iiif_body)
    return image


def _image_id_for(item: Item) -> str | None:
    """A readable id from the object number when it is free, else a generated one."""
    candidate = re.sub(r"[^A-Za-z0-9_-]+", "-", item.object_number).strip("-")[:64]
    if IMAGE_ID_RE.match(candidate) and not Image.objects.filter(image_id=candidate).exists():
        return candidate
    return None
