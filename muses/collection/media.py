"""Stored media through Django's storage: the local filesystem (MEDIA_ROOT) or a remote one
such as S3. Local files are used in place (paths, hard links); remote ones are read or
downloaded through the storage."""

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage

from muses.collection.decode import ImageDecodeError


@dataclass(frozen=True)
class RemoteFile:
    """A stored file that has no local path; answers what the callers ask of a Path."""

    name: str
    storage: Storage

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def is_file(self) -> bool:
        return self.storage.exists(self.name)

    def open(self):
        return self.storage.open(self.name, "rb")


def local_path(name: str, storage: Storage | None = None) -> Path | None:
    """The file's path when the storage is the local filesystem, else None."""
    try:
        return Path((storage or default_storage).path(name))
    except NotImplementedError:  # what Storage.path says for remote storages
        return None


def stored_file(name: str, storage: Storage | None = None) -> Path | RemoteFile:
    storage = storage or default_storage
    return local_path(name, storage) or RemoteFile(name, storage)


def image_file(image) -> Path | RemoteFile:
    """An Image's stored file: a Path on the local filesystem, a RemoteFile otherwise."""
    return stored_file(image.file.name, image.file.storage)


def image_source(image) -> Path | bytes:
    """What decode_image reads fastest: the local path, or the bytes of a remote file. A
    remote file that is gone raises ImageDecodeError, as a missing local one does."""
    source = image_file(image)
    if isinstance(source, Path):
        return source
    try:
        with source.open() as handle:
            return handle.read()
    except FileNotFoundError:
        raise ImageDecodeError(f"{image.image_id}: file not found") from None


def download(source: RemoteFile, target: Path) -> None:
    with source.open() as handle, open(target, "wb") as out:
        shutil.copyfileobj(handle, out)


@contextmanager
def local_image_files(images: Iterable) -> Iterator[list[Path]]:
    """Local paths of the images' files while the block runs: the stored files themselves on
    the filesystem; on remote storage, copies in a temporary directory removed afterwards
    (a file missing there gets a path that does not exist, as a missing local file has)."""
    sources = [image_file(image) for image in images]
    if all(isinstance(source, Path) for source in sources):
        yield sources
        return
    with tempfile.TemporaryDirectory(prefix="muses-media-") as tmp:
        yield [_fetched(source, Path(tmp)) for source in sources]


def _fetched(source: Path | RemoteFile, directory: Path) -> Path:
    if isinstance(source, Path):
        return source
    # Content-addressed names: one download per distinct file, under its own name.
    target = directory / PurePosixPath(source.name).name
    if not target.exists():
        try:
            download(source, target)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
    return target


def save_content_addressed(name: str, data: bytes, storage: Storage | None = None) -> bool:
    """Store ``data`` under ``name`` on a remote storage; True when this call wrote it.

    One PUT of the final key is atomic, so no temporary name is needed; an existing key
    already holds these bytes (the name is their hash)."""
    storage = storage or default_storage
    if storage.exists(name):
        return False
    saved = storage.save(name, ContentFile(data))
    if saved != name:  # a storage that renames on collision: the key appeared meanwhile
        storage.delete(saved)
        return False
    return True


def stored_files(prefix: str, storage: Storage | None = None) -> Iterator[tuple[str, datetime]]:
    """(name, modified) of every file under ``prefix``: one flat listing on S3, where walking
    the hash directories would cost a request each; a directory walk elsewhere."""
    storage = storage or default_storage
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:
        yield from _bucket_files(storage, bucket, prefix)
    elif storage.exists(prefix):
        yield from _walk(storage, prefix.rstrip("/"))


def _bucket_files(storage, bucket, prefix: str) -> Iterator[tuple[str, datetime]]:
    root = f"{storage.location.strip('/')}/" if storage.location else ""
    for obj in bucket.objects.filter(Prefix=f"{root}{prefix.strip('/')}/"):
        yield obj.key[len(root) :], obj.last_modified


def _walk(storage: Storage, directory: str) -> Iterator[tuple[str, datetime]]:
    directories, files = storage.listdir(directory)
    for name in files:
        path = f"{directory}/{name}"
        yield path, storage.get_modified_time(path)
    for name in directories:
        yield from _walk(storage, f"{directory}/{name}")
