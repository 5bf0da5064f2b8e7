"""What every backbone's weights share, below the registry and the networks built from them:
the error when none can be had, and the digest that names a weights file."""

import hashlib
from pathlib import Path


class BackboneUnavailable(RuntimeError):
    """Weights that cannot be had; the message says which file to place where."""


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]
