"""The importer plugins by name; each plugin module registers its importer on import."""

from collections.abc import Callable, Iterator

from muses.collection.importers.rows import ImportRow

Importer = Callable[..., Iterator[ImportRow]]
IMPORTERS: dict[str, Importer] = {}


def register(
    name: str, *, reads_urls: bool = False, batch_rows: int | None = None
) -> Callable[[Importer], Importer]:
    """``reads_urls``: the importer takes an http(s) URL as well as a file. ``batch_rows``:
    rows stored per transaction, when the import service's default does not suit."""

    def decorator(func: Importer) -> Importer:
        func.reads_urls = reads_urls
        func.batch_rows = batch_rows
        IMPORTERS[name] = func
        return func

    return decorator
