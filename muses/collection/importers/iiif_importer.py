"""IIIF importer: a Presentation 2.1 or 3.0 manifest or collection (a URL or a file) into
records and images.

Collections are followed depth-first up to MUSES_IIIF_MAX_MANIFESTS manifests, each
document read once (a collection that lists itself is reported, not looped on). A manifest
gives one row per object it shows: its own, and one per object number its canvases carry
of their own (see iiif.manifest_record). Each canvas's painted image is downloaded by a
bounded pool of threads while the records are stored; a canvas already imported from the
same manifest is never fetched again, so an interrupted import resumes where it stopped.
"""

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings
from tqdm import tqdm

from muses.collection import iiif, iiif_image
from muses.collection.decode import ImageDecodeError, decode_image
from muses.collection.fetch import Fetcher, FetchError
from muses.collection.iiif_json import IIIFError, doc_id, doc_kind
from muses.collection.iiif_painted import CanvasImage
from muses.collection.importers.registry import register
from muses.collection.importers.rows import FetchedImage, ImportRow, truncate_fields
from muses.collection.models import Image
from muses.json_limits import JsonRefused, json_loads

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # a manifest of a thousand-page book is a few MiB
MAX_INFO_BYTES = 1024 * 1024
MAX_DEPTH = 16  # collections inside collections
JSON_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"
GENERIC_TYPE = "application/octet-stream"  # some servers say no more; the decoder decides
IMAGES_IN_FLIGHT_PER_WORKER = 4  # downloaded images waiting to be stored, per thread


@dataclass
class _Pending:
    row: ImportRow
    downloads: list[tuple[CanvasImage, Future]]


# One object per transaction: its images are in memory until it is stored, and a stopped
# import keeps every object stored before the stop.
@register("iiif", reads_urls=True, batch_rows=1)
def read_iiif(
    source: str | Path, *, museum: str = "", language: str = "", progress: bool = False, **_
) -> Iterator[ImportRow]:
    """Yield one ImportRow per object of each manifest, its images downloaded; problems
    and notes are attached."""
    fetcher = Fetcher(
        timeout=settings.MUSES_IIIF_TIMEOUT,
        retries=settings.MUSES_IIIF_RETRIES,
        backoff=settings.MUSES_IIIF_BACKOFF,
        allow_private=settings.MUSES_IIIF_ALLOW_PRIVATE,
    )
    workers = max(1, settings.MUSES_IIIF_WORKERS)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="iiif")
    bar = tqdm(desc="downloading images", unit="image", disable=not progress, leave=False)
    try:
        pending: deque[_Pending] = deque()
        for number, (where, document) in enumerate(walk(source, fetcher), start=1):
            rows = _rows(number, where, document, museum, language)
            stored = _stored_canvases(rows)
            for row, canvases in rows:
                downloads = _submit(row.iiif_manifest, canvases, stored, fetcher, pool, bar)
                pending.append(_Pending(row, downloads))
                while _in_flight(pending) > workers * IMAGES_IN_FLIGHT_PER_WORKER:
                    yield _finish(pending.popleft())
        while pending:
            yield _finish(pending.popleft())
    finally:
        # A stopped import (an error while storing, Ctrl-C) waits only for the downloads
        # already running, not for those still queued.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


# --- reading documents ----------------------------------------------------------------


def walk(source: str | Path, fetcher: Fetcher) -> Iterator[tuple[str, dict | str]]:
    """(where, manifest document) for every manifest under the source, or (where, message)
    for a document that could not be used."""
    limit = settings.MUSES_IIIF_MAX_MANIFESTS
    queued: set[str] = {str(source)}  # locations and ids read or waiting to be read
    read_ids: set[str] = set()
    stack: list[tuple[str, int, str]] = [(str(source), 0, "")]
    manifests = 0
    while stack:
        location, depth, listed_as = stack.pop()
        if listed_as == "Manifest" and manifests >= limit:
            yield location, f"stopped: more than {limit} manifests (MUSES_IIIF_MAX_MANIFESTS)"
            return
        document = _read(location, fetcher, is_source=depth == 0)
        if isinstance(document, str):
            yield location, document
            continue
        kind, identity = doc_kind(document), doc_id(document) or location
        if identity in read_ids:
            continue  # the same document under a second URL
        read_ids.add(identity)
        queued.add(identity)
        if kind == "Manifest":
            manifests += 1
            if manifests > limit:
                yield location, f"stopped: more than {limit} manifests (MUSES_IIIF_MAX_MANIFESTS)"
                return
            yield location, document
        elif kind == "Collection":
            yield from _push_members(document, identity, depth, queued, stack, fetcher)
        else:
            yield location, "not a IIIF manifest or collection (no Manifest or Collection type)"


def _push_members(document, identity, depth, queued, stack, fetcher) -> Iterator[tuple[str, str]]:
    if depth + 1 > MAX_DEPTH:
        yield identity, f"collections nested deeper than {MAX_DEPTH} levels are not followed"
        return
    members = []
    for kind, member in iiif.collection_members(document):
        if member in queued:
            if kind == "Collection":
                yield identity, f"lists the collection {member} again (a cycle): not followed"
            continue  # a manifest listed twice is read once
        try:
            fetcher.allow(member)
        except FetchError as exc:
            yield identity, str(exc)
            continue
        queued.add(member)
        members.append((member, depth + 1, kind))
    stack.extend(reversed(members))  # reversed: the stack pops them in the listed order


def _read(location: str, fetcher: Fetcher, *, is_source: bool) -> dict | str:
    """The JSON document at a URL (or at a file path the user named), or why not."""
    try:
        if _is_url(location):
            if is_source:
                fetcher.allow(location)
            raw = fetcher.get(location, max_bytes=MAX_DOCUMENT_BYTES, accept=JSON_ACCEPT).data
        else:
            raw = _read_file(Path(location))
    except FetchError as exc:
        return str(exc)
    return _parse_json(raw)


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise FetchError(f"larger than {MAX_DOCUMENT_BYTES:,} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FetchError(f"cannot read the file ({exc.strerror})") from None


def _parse_json(raw: bytes) -> dict | str:
    try:
        document = json_loads(raw.decode("utf-8-sig"))
    except JsonRefused as exc:
        return f"invalid JSON: {exc}"
    except UnicodeDecodeError:
        return "not JSON (not UTF-8 text)"
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    return document if isinstance(document, dict) else "invalid IIIF: the JSON is not an object"


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


# --- rows and downloads ---------------------------------------------------------------


def _rows(
    number: int, where: str, document, museum: str, language: str
) -> list[tuple[ImportRow, list[CanvasImage]]]:
    """One row per object the manifest shows, with the canvases to fetch for it; a single
    row with its problem when the document cannot be used."""
    if isinstance(document, str):
        return [(ImportRow(line=number, fields={}, where=where, problems=[document]), [])]
    try:
        record = iiif.manifest_record(document, museum=museum, language=language)
    except IIIFError as exc:
        return [(ImportRow(line=number, fields={}, where=where, problems=[str(exc)]), [])]
    if not record.objects:
        problem = "no canvas paints an image MUSES can import (see the notes)"
        row = ImportRow(number, {}, where=record.manifest_id, problems=[problem])
        row.notes = record.notes
        return [(row, [])]
    rows = []
    for obj in record.objects:
        row = ImportRow(line=number, fields=truncate_fields(obj.fields), where=record.manifest_id)
        row.iiif_manifest = record.manifest_id
        row.iiif_canvases = [canvas.canvas_id for canvas in obj.canvases]
        rows.append((row, obj.canvases))
    rows[0][0].notes = record.notes
    return rows


def _stored_canvases(rows: list[tuple[ImportRow, list]]) -> set[str]:
    manifest = rows[0][0].iiif_manifest
    if not manifest:
        return set()
    stored = Image.objects.filter(iiif_manifest=manifest).values_list("iiif_canvas", flat=True)
    return set(stored)


def _submit(manifest_id: str, canvases, stored: set[str], fetcher: Fetcher, pool, bar) -> list:
    """Queue the downloads of the canvases not imported yet from this manifest."""
    downloads = []
    for canvas in canvases:
        if canvas.canvas_id in stored:
            continue
        future = pool.submit(download, canvas, manifest_id, fetcher)
        future.add_done_callback(lambda _: bar.update(1))
        downloads.append((canvas, future))
    return downloads


def _in_flight(pending: deque[_Pending]) -> int:
    return sum(len(entry.downloads) for entry in pending)


def _finish(entry: _Pending) -> ImportRow:
    for canvas, future in entry.downloads:
        try:
            entry.row.images.append(future.result())
        except (FetchError, ImageDecodeError, iiif_image.SelectionError) as exc:
            entry.row.image_failures.append(f"canvas {canvas.canvas_id}: {exc}")
        except Exception as exc:  # one broken canvas must not stop the others
            entry.row.image_failures.append(f"canvas {canvas.canvas_id}: failed ({exc!r})")
    return entry.row


def download(canvas: CanvasImage, manifest_id: str, fetcher: Fetcher) -> FetchedImage:
    """The canvas's image at a bounded size, its selection applied, decoded; FetchError,
    ImageDecodeError or SelectionError."""
    for url in (canvas.service_id, canvas.url):
        if url:
            fetcher.allow(url)  # named by the manifest; raises for other schemes
    info = _image_info(canvas, fetcher) if canvas.service_id else None
    url = iiif_image.image_request_url(canvas, info)
    fetched = fetcher.get(url, max_bytes=settings.MUSES_MAX_UPLOAD_BYTES, accept="image/*")
    if fetched.content_type not in ("", GENERIC_TYPE) and not fetched.content_type.startswith(
        "image/"
    ):
        raise FetchError(f"{url}: wrong content type {fetched.content_type} (expected an image)")
    data, decoded = fetched.data, decode_image(fetched.data, name=url)
    if iiif_image.needs_local_selection(canvas, info):
        data = iiif_image.encode_jpeg(iiif_image.select_locally(decoded.image, canvas, info))
        decoded = decode_image(data, name=url)
    return FetchedImage(
        data=data,
        name=PurePosixPath(urlsplit(url).path).name or "iiif.jpg",
        decoded=decoded,
        iiif_manifest=manifest_id,
        iiif_canvas=canvas.canvas_id,
        iiif_body=iiif_image.published_body(canvas, info),
    )


def _image_info(canvas: CanvasImage, fetcher: Fetcher) -> dict | None:
    """The service's info.json, for the image's size and features; None when it cannot
    be read (the image is then asked at the bounded size). A server that does not answer
    at all fails the canvas here rather than being waited on twice."""
    try:
        raw = fetcher.get(iiif_image.info_url(canvas), max_bytes=MAX_INFO_BYTES, accept=JSON_ACCEPT)
    except FetchError as exc:
        if exc.transient:
            raise
        return None
    info = _parse_json(raw.data)
    return info if isinstance(info, dict) else None
