"""Exporter plugins by name: each turns the collection into a training dataset.

A plugin is a module with ``do_export(max_images=..., *, output=None, dry_run=False, out=None)``;
add one by naming its module here.
"""

from importlib import import_module
from types import ModuleType

EXPORTERS: dict[str, str] = {
    "naive": "exporters.naive.muses_exporter_plugin",
}


class NothingToExport(ValueError):
    """No image got a class: the previous dataset is left as it was."""


class UnknownExporter(LookupError):
    """An exporter name that is not registered; the message lists the known ones."""


def exporter_names() -> list[str]:
    return sorted(EXPORTERS)


def get_exporter(name: str) -> ModuleType:
    """The plugin module registered as ``name``."""
    if name not in EXPORTERS:
        raise UnknownExporter(
            f"Unknown exporter {name!r}; known exporters: {', '.join(exporter_names())}"
        )
    return import_module(EXPORTERS[name])
