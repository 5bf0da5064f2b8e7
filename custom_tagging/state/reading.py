"""Reading an untrusted tar (optionally gzip, bzip2 or xz compressed) into memory, safely.

`tarfile` trusts the sizes its headers claim: a GNU long-name header that says 1 GiB is
read whole before any member is seen, and a 1 MB gzip can decompress to gigabytes. So
`tarfile` never reads the upload itself: it reads a `CheckedTarStream`, which decompresses
in small chunks, stops at a total cap, and checks every header block (type, size, long
names, pax records) before handing it on. What gets through is then read by `tarfile`
in stream mode, and members are checked again by name and type.
"""

import bz2
import lzma
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath

from custom_tagging import exceptions as errors

BLOCK = 512
IN_CHUNK = 64 * 1024
OUT_CHUNK = 256 * 1024
MAX_MEMBERS = 20_000
# A member name is at most a few hundred bytes; pax records of a plain file (path, times,
# owner names) a few kilobytes. Anything larger is an attack on the reader, not a name.
MAX_LONG_NAME_BYTES = 4096
MAX_PAX_BYTES = 64 * 1024
# Headers, padding and the end blocks come on top of the members' contents.
OVERHEAD_PER_MEMBER = 3 * 2 * BLOCK
WINDOWS_DRIVE = re.compile(r"\A[A-Za-z]:")

REGULAR = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE}
WITHOUT_DATA = {tarfile.DIRTYPE}
REFUSED = {
    tarfile.SYMTYPE: "links are not allowed",
    tarfile.LNKTYPE: "links are not allowed",
    tarfile.GNUTYPE_LONGLINK: "links are not allowed",
    tarfile.CHRTYPE: "devices are not allowed",
    tarfile.BLKTYPE: "devices are not allowed",
    tarfile.FIFOTYPE: "not a regular file (a FIFO)",
    tarfile.GNUTYPE_SPARSE: "sparse files are not allowed",
    tarfile.XGLTYPE: "global pax headers are not allowed",
    tarfile.SOLARIS_XHDTYPE: "Solaris extended headers are not allowed",
}
READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def read_tar_members(data: bytes, *, max_bytes: int) -> dict[str, bytes]:
    """Every regular file of the tar, read into memory; refuses absolute paths, '..',
    links, devices, duplicates, too many members, oversized headers and contents over
    the size cap (decompressed)."""
    members: dict[str, bytes] = {}
    total = 0
    stream = CheckedTarStream(data, max_bytes=max_bytes)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise errors.InvalidState(f"The state has more than {MAX_MEMBERS} members.")
                name = checked_name(member)
                if member.isdir():
                    continue
                total += member.size
                if total > max_bytes:
                    raise _over_cap(max_bytes)
                if name in members:
                    raise errors.InvalidState(f"The state has two members named {name!r}.")
                members[name] = _read_member(archive, member)
    except READ_ERRORS as exc:
        raise errors.InvalidState(f"The state is not a readable tar (corrupt or truncated): {exc}")
    if not members:
        raise errors.InvalidState("The state tar is empty.")
    return members


def checked_name(member: tarfile.TarInfo) -> str:
    raw = member.name
    if raw.startswith(("/", "\\")) or WINDOWS_DRIVE.match(raw):
        raise _refused(raw, "absolute path")
    if ".." in PurePosixPath(raw.replace("\\", "/")).parts:
        raise _refused(raw, "'..' in its path")
    if member.issym() or member.islnk():
        raise _refused(raw, "links are not allowed")
    if member.isdev():
        raise _refused(raw, "devices are not allowed")
    if not (member.isfile() or member.isdir()):
        raise _refused(raw, "not a regular file")
    return posixpath.normpath(raw)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    content = handle.read() if handle is not None else b""
    if len(content) != member.size:
        raise errors.InvalidState(f"The member {member.name!r} is truncated.")
    return content


def _refused(name: str, why: str) -> errors.InvalidState:
    return errors.InvalidState(f"Refusing member {name[:200]!r}: {why}.")


def _over_cap(max_bytes: int) -> errors.InvalidState:
    return errors.InvalidState(f"The state's contents exceed the size cap of {max_bytes:,} bytes.")


# --- decompression in bounded chunks --------------------------------------------------


def decompressed_chunks(data: bytes) -> Iterator[bytes]:
    """The tar's bytes, at most OUT_CHUNK at a time, whatever the compression claims."""
    if data[:2] == b"\x1f\x8b":
        return _inflated(data, zlib.decompressobj(16 + zlib.MAX_WBITS))
    if data[:3] == b"BZh":
        return _unpacked(data, bz2.BZ2Decompressor())
    if data[:6] == b"\xfd7zXZ\x00":
        return _unpacked(data, lzma.LZMADecompressor())
    return (data[i : i + OUT_CHUNK] for i in range(0, len(data), OUT_CHUNK))


def _inflated(data: bytes, inflater) -> Iterator[bytes]:
    view, position, pending = memoryview(data), 0, b""
    while not inflater.eof:
        if not pending:
            if position >= len(data):
                break
            pending, position = view[position : position + IN_CHUNK], position + IN_CHUNK
        out = inflater.decompress(pending, OUT_CHUNK)
        pending = inflater.unconsumed_tail
        if out:
            yield out
    while not inflater.eof and (out := inflater.decompress(b"", OUT_CHUNK)):
        yield out  # output zlib still held when the input ran out


def _unpacked(data: bytes, decompressor) -> Iterator[bytes]:
    view, position = memoryview(data), 0
    while not decompressor.eof:
        if decompressor.needs_input:
            if position >= len(data):
                return
            chunk, position = view[position : position + IN_CHUNK], position + IN_CHUNK
        else:
            chunk = b""
        out = decompressor.decompress(chunk, OUT_CHUNK)
        if out:
            yield out


# --- header checks before tarfile reads them ------------------------------------------


class CheckedTarStream:
    """A read-only file over the decompressed tar that hands out no byte of a header block
    (nor of a long-name or pax header's data) before checking it, and no more than the cap
    in all. It follows the member boundaries as tarfile does: 512-byte header, then the
    data of regular files and of long-name/pax headers, padded to 512."""

    def __init__(self, data: bytes, *, max_bytes: int):
        self._chunks = decompressed_chunks(data)
        self._cap = max_bytes + OVERHEAD_PER_MEMBER * MAX_MEMBERS
        self._buffer = bytearray()  # decompressed, not handed out yet
        self._base = 0  # stream position of _buffer[0]
        self._produced = 0  # stream position of the end of _buffer
        self._next_header = 0  # stream position of the next header block to check
        self._end = None  # stream position after the end-of-archive block, once seen
        self._headers = 0
        self._long_name: str | None = None
        self._pax: dict[str, str] = {}

    def read(self, size: int = -1) -> bytes:
        want = OUT_CHUNK if size is None or size < 0 else size
        while self._cleared() - self._base < want and self._advance():
            pass
        n = min(want, self._cleared() - self._base)
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._base += n
        return out

    def _cleared(self) -> int:
        """Stream position up to which every byte has been checked."""
        if self._end is not None:
            return self._end
        return min(self._produced, self._next_header)

    def _advance(self) -> bool:
        """Check the next header if its bytes are here, else decompress more; False once
        nothing more can be handed out."""
        if self._end is not None:
            return False
        if self._produced >= self._next_header + BLOCK and self._check_header():
            return True
        chunk = next(self._chunks, None)
        if chunk is None:
            if self._produced > self._next_header:
                raise errors.InvalidState("The state tar is truncated (it ends inside a member).")
            return False
        self._produced += len(chunk)
        if self._produced > self._cap:
            raise errors.InvalidState(
                f"The state decompresses to more than {self._cap:,} bytes (MUSES_STATE_MAX_BYTES "
                "plus headers); refused."
            )
        self._buffer.extend(chunk)
        return True

    def _block_at(self, position: int, length: int) -> bytes:
        start = position - self._base
        return bytes(self._buffer[start : start + length])

    def _check_header(self) -> bool:
        """True when the header at _next_header was checked (and the boundary moved on);
        False when more bytes are needed first."""
        block = self._block_at(self._next_header, BLOCK)
        if block == bytes(BLOCK):
            self._end = self._next_header + BLOCK  # tarfile stops at the first zero block
            return True
        kind, size, name = block[156:157], _header_size(block), self._name_of(block)
        if kind == tarfile.AREGTYPE and block[0:100].split(b"\0", 1)[0].endswith(b"/"):
            kind = tarfile.DIRTYPE  # as tarfile reads it: a directory, no data follows
        data_size = self._data_size(kind, size, name)
        data_end = self._next_header + BLOCK + _padded(data_size)
        if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE):
            if self._produced < data_end:
                return False  # its data (small, bounded above) must be read with it
            self._read_extension(kind, self._block_at(self._next_header + BLOCK, data_size))
        else:
            self._long_name, self._pax = None, {}
        self._next_header = data_end
        self._headers += 1
        if self._headers > 3 * MAX_MEMBERS:
            raise errors.InvalidState(f"The state has more than {MAX_MEMBERS} members.")
        return True

    def _data_size(self, kind: bytes, size: int, name: str) -> int:
        if kind in REFUSED:
            raise _refused(name, REFUSED[kind])
        if kind == tarfile.GNUTYPE_LONGNAME and size > MAX_LONG_NAME_BYTES:
            raise _refused(
                name, f"a long-name header of {size:,} bytes (limit {MAX_LONG_NAME_BYTES})"
            )
        if kind == tarfile.XHDTYPE and size > MAX_PAX_BYTES:
            raise _refused(name, f"a pax header of {size:,} bytes (limit {MAX_PAX_BYTES:,})")
        if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE):
            return size
        if kind in WITHOUT_DATA:
            return 0
        if kind not in REGULAR:
            raise _refused(name, "not a regular file")
        # A pax 'size' record replaces the header's, as tarfile applies it.
        size = int(self._pax["size"]) if "size" in self._pax else size
        if size > self._cap:
            raise _refused(name, f"it claims {size:,} bytes, over the size cap")
        return size

    def _read_extension(self, kind: bytes, data: bytes) -> None:
        if kind == tarfile.GNUTYPE_LONGNAME:
            self._long_name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            return
        self._pax = _pax_records(data)
        if any(key.startswith("GNU.sparse") for key in self._pax):
            raise _refused(self._pax.get("path", "?"), "sparse files are not allowed")
        if "size" in self._pax and not self._pax["size"].isdigit():
            raise errors.InvalidState("A pax header has an invalid 'size'.")

    def _name_of(self, block: bytes) -> str:
        if self._long_name or "path" in self._pax:
            return self._pax.get("path") or self._long_name
        name = block[0:100].split(b"\0", 1)[0]
        prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
        return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _header_size(block: bytes) -> int:
    """The size field: octal text, or GNU's base-256 for sizes over 8 GiB."""
    field = block[124:136]
    if field[0] == 0x80:
        return int.from_bytes(field[1:], "big")
    if field[0] & 0x80:
        raise errors.InvalidState("A tar header has a negative size.")
    text = field.split(b"\0", 1)[0].strip() or b"0"
    try:
        return int(text, 8)
    except ValueError:
        raise errors.InvalidState(
            "The state is not a readable tar (a header's size is not a number)."
        )


def _pax_records(data: bytes) -> dict[str, str]:
    """'<length> <key>=<value>\\n' records, as POSIX defines them."""
    records, position = {}, 0
    while position < len(data) and data[position] != 0:
        length_text, _, _ = data[position : position + 20].partition(b" ")
        length = int(length_text) if length_text.isdigit() else 0
        if not len(length_text) < length <= len(data) - position:
            raise errors.InvalidState("The state has a malformed pax header.")
        record = data[position : position + length]
        key, equals, value = record[len(length_text) + 1 :].rstrip(b"\n").partition(b"=")
        if not equals or not record.endswith(b"\n"):
            raise errors.InvalidState("The state has a malformed pax header.")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        position += length
    return records


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK
