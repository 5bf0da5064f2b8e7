"""A GNU long-name tar header claiming N bytes, in about N/1000 bytes of gzip: what reading
it costs through MUSES' checked reader, against `tarfile` reading it directly, in one run.

    .venv/bin/python bench/state_header_bomb.py [--mib 1024] [--tarfile-mib 128]

`tarfile` reads such a header whole before any member is seen, so its cost grows with the
claimed size; `--tarfile-mib` keeps that side smaller on a shared machine (its figures
scale linearly). Prints wall seconds, CPU seconds and peak Python allocation of each.
"""

import argparse
import io
import os
import struct
import sys
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 2**20


def long_name_bomb(size: int) -> bytes:
    """A valid gzip (CRC and length right) of the header and `size` bytes of 'a'."""
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = tarfile.GNUTYPE_LONGNAME, size
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflater.compress(header) + deflater.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the deflater starts afresh: one MiB of 'a' compresses the same way
    # each time, so the bomb is built without compressing all of it.
    unit = b"a" * MIB
    piece = deflater.compress(unit) + deflater.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    for _ in range(size // MIB):
        crc = zlib.crc32(unit, crc)
    body = head + piece * (size // MIB) + deflater.flush()
    trailer = struct.pack("<II", crc, (len(header) + size) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + trailer


def measured(read) -> tuple[float, float, int, str]:
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        read()
        outcome = "read"
    except Exception as exc:  # both readers fail on it; how they fail is the point
        outcome = f"{type(exc).__name__}: {' '.join(str(exc).split())[:90]}"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, cpu, peak, outcome


def tarfile_direct(data: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        archive.next()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mib", type=int, default=1024, help="claimed header size for MUSES' reader"
    )
    parser.add_argument(
        "--tarfile-mib", type=int, default=128, help="claimed size for tarfile itself"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    import django

    django.setup()
    from custom_tagging.state.reading import read_tar_members

    ours = long_name_bomb(args.mib * MIB)
    theirs = long_name_bomb(args.tarfile_mib * MIB)
    rows = [
        (
            f"MUSES read_tar_members, {args.mib} MiB header",
            len(ours),
            measured(lambda: read_tar_members(ours, max_bytes=512 * MIB)),
        ),
        (
            f"tarfile directly, {args.tarfile_mib} MiB header",
            len(theirs),
            measured(lambda: tarfile_direct(theirs)),
        ),
    ]
    for name, size, (wall, cpu, peak, outcome) in rows:
        print(
            f"{name}: upload {size / MIB:.2f} MiB, wall {wall:.4f} s, cpu {cpu:.4f} s, "
            f"peak allocation {peak / MIB:.1f} MiB -> {outcome}"
        )
    per_mib = rows[1][2][1] / args.tarfile_mib
    print(
        f"tarfile's CPU scaled to {args.mib} MiB: {per_mib * args.mib:.2f} s "
        f"({per_mib * args.mib / max(rows[0][2][1], 1e-6):,.0f}x MUSES' reader)"
    )


if __name__ == "__main__":
    main()
