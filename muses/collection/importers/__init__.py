"""Importer plugins, keyed by name: `./manage.py muses_import --importer NAME PATH`.

An importer yields ``ImportRow``s; the shared import service stores them. Museum APIs
can be added later as further plugins without touching the command.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportRow:
    line: int  # line number in the source, for error messages
    fields: dict[str, str]  # Item fields, already mapped
    image_path: Path | None = None
    problems: list[str] = field(default_factory=list)


Importer = Callable[..., Iterator[ImportRow]]
IMPORTERS: dict[str, Importer] = {}


def register(name: str) -> Callable[[Importer], Importer]:
    def decorator(func: Importer) -> Importer:
        IMPORTERS[name] = func
        return func

    return decorator


def get_importer(name: str) -> Importer:
    from muses.collection.importers import csv_importer  # noqa: F401  (registers "csv")

    try:
        return IMPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(IMPORTERS))
        raise KeyError(f"Unknown importer {name!r}; known importers: {known}") from None
