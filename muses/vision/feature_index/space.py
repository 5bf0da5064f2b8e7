"""Naming a feature space's index and where it lives on this machine."""

from pathlib import Path

from django.conf import settings

from muses.vision.inference import configured_family

# The dtype every index is written in (half the bytes of the stored float32).
INDEX_DTYPE = "float16"


def index_name(backbone: str, family: str | None = None) -> str:
    """The name of the index holding one feature space's vectors: the backbone and a
    numerics family (by default the one this process reads, muses.vision.inference), so
    vectors that may not be mixed never share a matrix."""
    return f"{backbone}.{family or configured_family()}"


def index_directory() -> Path:
    return Path(settings.MUSES_INDEX_DIR)
