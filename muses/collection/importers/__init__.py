"""Importer plugins, keyed by name: `./manage.py muses_import --importer NAME PATH`.

An importer yields ``ImportRow``s; the shared import service stores them. Museum APIs
can be added later as further plugins without touching the command.
"""

# Importing the plugin modules registers their importers.
from muses.collection.importers import adlib_importer, csv_importer, iiif_importer  # noqa: F401
from muses.collection.importers.registry import IMPORTERS, Importer


def get_importer(name: str) -> Importer:
    try:
        return IMPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(IMPORTERS))
        raise KeyError(f"Unknown importer {name!r}; known importers: {known}") from None
