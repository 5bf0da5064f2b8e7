"""Shared set-up of the naive-classification benchmarks: Django on a private state folder
(``MUSES_VAR_DIR``), so a benchmark never touches anyone's database, media or models, and
a collection imported from a CSV with its images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EGYPTIAN_CSV = ROOT.parent / "shared" / "data" / "egyptian-cc0" / "collection.csv"


def setup_django(var_dir: str | Path) -> None:
    """Point every MUSES folder at ``var_dir`` and start Django with a migrated database."""
    var_dir = Path(var_dir)
    for name, sub in (
        ("MUSES_VAR_DIR", ""),
        ("MUSES_MODEL_DIR", "models"),
        ("MUSES_PLOT_DIR", "plots"),
        ("MUSES_WEIGHTS_DIR", "weights"),
    ):
        os.environ.setdefault(name, str(var_dir / sub))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def populate_collection(csv_path: Path = EGYPTIAN_CSV, limit: int | None = None) -> int:
    """Import the CSV's items and images once (a re-run finds them there); returns the
    number of collection images."""
    from itertools import islice

    from muses.collection.importers import get_importer
    from muses.collection.imports import collection_import
    from muses.collection.models import Image

    if not Image.objects.filter(item__isnull=False).exists():
        rows = get_importer("csv")(Path(csv_path))
        report = collection_import(rows=islice(rows, limit))
        print(f"imported {report.created} items, {report.images_added} images", flush=True)
    return Image.objects.filter(item__isnull=False).count()
