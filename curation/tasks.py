"""django-q2 tasks of curation: queued by dotted path."""

from curation import services


def map_layout_task(method: str | None = None) -> int:
    return services.map_layout_compute(method=method)
