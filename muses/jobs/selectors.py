"""Jobs of every kind in one list, newest first, filtered by state and kind."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from django.db.models import QuerySet

from muses.jobs import exceptions as errors
from muses.jobs.models import Job, JobState, job_models


def job_kinds() -> dict[str, type[Job]]:
    """kind -> its model, for every kind a job model runs."""
    kinds = {}
    for model in job_models():
        field = next((f for f in model._meta.fields if f.name == "kind"), None)
        names = [value for value, _ in field.choices] if field is not None else [model.kind]
        kinds.update({name: model for name in names})
    return kinds


@dataclass
class JobList:
    """Sliceable and countable like a QuerySet (for paginate): a page reads at most
    offset + limit (created, id) pairs per job table, then the page's rows."""

    querysets: list[QuerySet]

    def count(self) -> int:
        return sum(rows.count() for rows in self.querysets)

    def __getitem__(self, page: slice) -> list[Job]:
        stop = page.stop or 0
        newest = heapq.merge(
            *[_keys(rows, index, stop) for index, rows in enumerate(self.querysets)],
            reverse=True,
        )
        picked = list(newest)[page.start or 0 : stop]
        by_table: dict[int, list[int]] = {}
        for _, _, index, pk in picked:
            by_table.setdefault(index, []).append(pk)
        found = {
            (index, job.pk): job
            for index, pks in by_table.items()
            for job in self.querysets[index].filter(pk__in=pks)
        }
        return [found[(index, pk)] for _, _, index, pk in picked]


def _keys(rows: QuerySet, index: int, stop: int) -> list[tuple]:
    newest = rows.order_by("-created", "-id").values_list("created", "id")[:stop]
    return [(created, pk, index, pk) for created, pk in newest]


def job_list(*, state: str | None = None, kind: str | None = None) -> JobList:
    """Every kind of job (training, library prediction, naive export and training), newest
    first; 400 for a state or kind that does not exist."""
    if state is not None and state not in JobState.values:
        known = ", ".join(JobState.values)
        raise errors.InvalidJobQuery(f"state must be one of {known}, not {state[:50]!r}.")
    kinds = job_kinds()
    if kind is not None and kind not in kinds:
        known = ", ".join(sorted(kinds))
        raise errors.InvalidJobQuery(f"kind must be one of {known}, not {kind[:50]!r}.")
    models = list(dict.fromkeys(kinds.values())) if kind is None else [kinds[kind]]
    querysets = []
    for model in models:
        rows = _with_related(model)
        if state is not None:
            rows = rows.filter(state=state)
        if kind is not None and any(f.name == "kind" for f in model._meta.fields):
            rows = rows.filter(kind=kind)
        querysets.append(rows)
    return JobList(querysets)


def _with_related(model: type[Job]) -> QuerySet:
    """The model's rows with the foreign keys its serializer reads (no query per row)."""
    related = [f.name for f in model._meta.fields if f.many_to_one and f.name != "requested_by"]
    return model.objects.select_related(*related)
