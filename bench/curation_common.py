"""Shared set-up of the curation benchmarks: the whole Egyptian CC0 collection imported into
a private state folder, with its EfficientNet-Lite0 features computed once by the project's
own extraction (``features_extract``) and kept there, so each benchmark starts in seconds.

    .venv/bin/python bench/curation_common.py [--var-dir /tmp/muses-curation]

prepares the folder (import + features) and prints what it holds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from naive_common import EGYPTIAN_CSV, ROOT, populate_collection, setup_django

DEFAULT_VAR_DIR = Path("/tmp/muses-curation")


def egyptian_csv() -> Path:
    """The shared data folder next to the checkout (or next to the worktrees' folder)."""
    for candidate in (
        EGYPTIAN_CSV,
        ROOT.parent.parent / "shared" / EGYPTIAN_CSV.relative_to(ROOT.parent / "shared"),
    ):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"No Egyptian collection at {EGYPTIAN_CSV}")


def prepared_collection(var_dir: str | Path = DEFAULT_VAR_DIR) -> int:
    """Django on ``var_dir`` with the collection imported and every image's features stored;
    returns the number of collection images."""
    setup_django(var_dir)
    from muses.vision.backbones import get_backbone
    from muses.vision.store import features_extract, images_missing_features

    count = populate_collection(egyptian_csv())
    backbone = get_backbone()
    missing = images_missing_features(backbone.name)
    if missing.exists():
        start = time.perf_counter()
        report = features_extract(images=missing, backbone=backbone, progress=True)
        took = time.perf_counter() - start
        print(f"features: {report.extracted} extracted in {took:.1f} s", flush=True)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default=str(DEFAULT_VAR_DIR), help="Private state folder.")
    args = parser.parse_args()
    print(f"collection images with features: {prepared_collection(args.var_dir)}")


if __name__ == "__main__":
    main()
