"""Adversarial matrix, round 3: the requests and scenarios of the security issue's findings
run again against MUSES in this process, with the stored data compared before and after.

Each case says what it sent, the status (or the scenario's outcome) and whether it is what
a user must see. A refused request must change nothing: tags, assignments, versions,
images and items are counted and compared. Prints one line per case, then the totals:
cases, 5xx answers, cases with data lost, cases not as expected.

    .venv/bin/python bench/adversarial_round3.py [--postgres]

SQLite in a temporary folder by default; --postgres uses a fresh database
muses_bench_adversarial3 on 127.0.0.1:5432 (user postgres), dropped at the end. Jobs run
in-process (django-q2 sync); the backbone is the tests' numpy stand-in (no weights).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import django_setup, postgres_database_fresh, psql  # noqa: E402

DB_NAME = "muses_bench_adversarial3"
# (case, outcome, HTTP status or None, as expected, data lost)
RESULTS: list[tuple[str, str, int | None, bool, bool]] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="Run on a fresh PostgreSQL.")
    args = parser.parse_args()
    var = tempfile.mkdtemp(prefix="muses-adversarial-")
    os.environ.update(MUSES_VAR_DIR=var, MUSES_Q_SYNC="1", MUSES_API_OPEN="0")
    os.environ.pop("REDIS_URL", None)
    if args.postgres:
        os.environ["DATABASE_URL"] = postgres_database_fresh(DB_NAME)
    else:
        os.environ.pop("DATABASE_URL", None)
    try:
        django_setup()
        prepare()
        run_cases()
    finally:
        if args.postgres:
            from django.db import connections

            connections.close_all()
            psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    return report(database="PostgreSQL" if args.postgres else "SQLite")


def prepare() -> None:
    from django.conf import settings
    from django.core.management import call_command

    from muses.vision import backbones
    from tests.custom_tagging.conftest import TINY_INPUT, TINY_NAME, build_tiny

    call_command("migrate", verbosity=0)
    backbones.BACKBONES[TINY_NAME] = (build_tiny, TINY_INPUT)
    settings.MUSES_BACKBONE = TINY_NAME
    settings.MUSES_IIIF_RETRIES = 1


# --- clients and data ------------------------------------------------------------------


def client_with_group(username: str, group: str | None):
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = User.objects.create_user(username)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def snapshot() -> dict:
    from custom_tagging.models import Assignment, CustomTag, TagVersion
    from muses.collection.models import Image, Item

    return {
        "tags": sorted(CustomTag.objects.values_list("name", flat=True)),
        "assignments": sorted(Assignment.objects.values_list("tag__name", "image_id", "label")),
        "versions": TagVersion.objects.count(),
        "images": Image.objects.count(),
        "items": Item.objects.count(),
    }


def upload(color):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import encode_image

    return SimpleUploadedFile("x.jpg", encode_image(size=(40, 40), color=color), "image/jpeg")


def teach(curator, tag: str) -> None:
    """Six red positives and six blue negatives, trained."""
    for n in range(6):
        for label, color in (("positive", (210, 30 + n, 30)), ("negative", (30, 40, 210 - n))):
            image_id = f"{tag.strip('=+')}-{label[:3]}-{n}".replace("+", "")
            curator.post(f"/system/database/image/add?image_id={image_id}", {"data": upload(color)})
            curator.get(f"/custom/assign/{image_id}/{label}/{tag}")
    curator.get(f"/custom/train/{tag}")


def record(case: str, response_or_outcome, expected, *, before: dict | None = None) -> None:
    status = getattr(response_or_outcome, "status_code", None)
    outcome = str(status) if status is not None else str(response_or_outcome)
    ok = (status in expected) if status is not None else bool(expected)
    lost = before is not None and snapshot() != before
    RESULTS.append((case, outcome, status, ok and not lost, lost))


# --- the cases -------------------------------------------------------------------------


def run_cases() -> None:
    curator = client_with_group("curator", "Curators")
    teach(curator, "red")
    roles(curator)
    formula_csv(curator)
    bounded_json(curator)
    paging()
    media_404()
    iiif_fetches()


def roles(curator) -> None:
    reader = client_with_group("volunteer", None)
    labeller = client_with_group("labeller", "Labellers")
    before = snapshot()
    for client, who in ((reader, "reader"), (labeller, "labeller")):
        for method, path in [
            ("delete", "/api/tags/red"),
            ("get", "/custom/delete/red"),
            ("post", "/custom/delete/red"),
            ("get", "/get_state"),
        ]:
            response = getattr(client, method)(path)
            record(f"{who} {method.upper()} {path}", response, {403}, before=before)
        response = client.post("/set_state", {"data": upload((1, 2, 3))}, format="multipart")
        record(f"{who} POST /set_state", response, {403}, before=before)
    for method, path in [
        ("get", "/custom/assign/red-pos-0/negative/red"),
        ("get", "/custom/train/red"),
        ("delete", "/api/tags/red/assignments/red-pos-0"),
    ]:
        response = getattr(reader, method)(path)
        record(f"reader {method.upper()} {path}", response, {403}, before=before)
    response = reader.get("/custom/predict/red/red-pos-0")
    record("reader GET /custom/predict/red/red-pos-0", response, {200})


def formula_csv(curator) -> None:
    from custom_tagging.models import CustomTag

    teach(curator, "=1+1")
    task = curator.post("/api/predictions", {"tags": ["=1+1", "red"]}, format="json").json()
    text = b"".join(curator.get(f"/api/predictions/{task['task_id']}/csv").streaming_content)
    cells = [c for row in csv.reader(io.StringIO(text.decode())) for c in row]
    formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    record("library CSV with a tag named '=1+1': formula cells", len(formulas), len(formulas) == 0)
    assert CustomTag.objects.filter(name="=1+1").exists()


def bounded_json(curator) -> None:
    before = snapshot()
    for path in ("/api/tags", "/custom/predict_batch"):
        for depth in (50_000, 100_000):
            body = "[" * depth + "]" * depth
            response = curator.post(path, body, content_type="application/json")
            record(f"POST {path} nested {depth:,} deep", response, {400}, before=before)
    for number in ("1e999999", "-1e999999"):
        body = '{"name": ' + number + "}"
        response = curator.post("/api/tags", body, content_type="application/json")
        record(f"POST /api/tags name {number}", response, {400}, before=before)


def paging() -> None:
    from curation.models import CurationJob

    curator = client_with_group("curator-2", "Curators")
    before = snapshot()
    jobs = CurationJob.objects.count()
    for path in ("/api/naive/label-issues", "/api/tags/red/label-issues"):
        for query in ("limit=1e9", "limit=0", "offset=-1"):
            response = curator.get(f"{path}?{query}")
            record(f"GET {path}?{query}", response, {400}, before=before)
    queued = CurationJob.objects.count() - jobs
    record("label-issue jobs queued by bad pages", queued, queued == 0)


def media_404() -> None:
    from django.conf import settings

    reader = client_with_group("reader-2", None)
    response = reader.get("/media/images/no/such.jpg")
    leaked = str(settings.MEDIA_ROOT) in response.content.decode()
    record("GET /media/<missing> names MEDIA_ROOT", f"{response.status_code}, leaked={leaked}",
           response.status_code == 404 and not leaked)  # fmt: skip


def iiif_fetches() -> None:
    from django.conf import settings

    from tests.collection.iiif_server import manifest_v3, start_server, stop_server

    state, httpd, thread = start_server()
    try:
        slow = state.add_route(
            "/slow.jpg", content_type="image/jpeg", body=b"\xff" * 100_000, trickle=1.0,
            trickle_for=120,
        )  # fmt: skip
        url = state.add_json("/m/a.json", manifest_v3(state, "a", [{"url": slow}]))
        settings.MUSES_IIIF_ALLOW_PRIVATE = False
        out = iiif_import(url)
        refused = "MUSES_IIIF_ALLOW_PRIVATE=1" in out and not state.requests
        outcome = "refused, nothing sent" if refused else out.splitlines()[-1][:80]
        record("IIIF import from 127.0.0.1 without MUSES_IIIF_ALLOW_PRIVATE", outcome, refused)
        settings.MUSES_IIIF_ALLOW_PRIVATE = True
        settings.MUSES_IIIF_TIMEOUT = 5.0
        started = time.monotonic()
        out = iiif_import(url)
        took = time.monotonic() - started
        record(
            "IIIF image trickled 1 byte/s, MUSES_IIIF_TIMEOUT=5",
            f"{took:.1f} s",
            took < 10 and "took longer than 5 s" in out,
        )
        state.routes["/m/a.json"].trickle, state.routes["/m/a.json"].trickle_for = 1.0, 120
        started = time.monotonic()
        out = iiif_import(url)
        took = time.monotonic() - started
        record("IIIF manifest trickled 1 byte/s, MUSES_IIIF_TIMEOUT=5", f"{took:.1f} s",
               took < 10 and "took longer than 5 s" in out)  # fmt: skip
    finally:
        stop_server(state, httpd, thread)


def iiif_import(url: str) -> str:
    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("muses_import", url, "--importer", "iiif", "--no-features",
                     stdout=out, stderr=err, verbosity=0)  # fmt: skip
    except CommandError as exc:
        err.write(str(exc))
    return out.getvalue() + err.getvalue()


def report(*, database: str) -> int:
    for case, outcome, _, ok, lost in RESULTS:
        print(f"{'ok ' if ok else 'BAD'}  {case}: {outcome}{'  DATA LOST' if lost else ''}")
    server_errors = sum(1 for _, _, status, _, _ in RESULTS if status and status >= 500)
    lost = sum(1 for *_, was_lost in RESULTS if was_lost)
    bad = sum(1 for _, _, _, ok, _ in RESULTS if not ok)
    print(
        f"{database}: {len(RESULTS)} cases, {server_errors} answered 5xx, "
        f"{lost} lost data, {bad} not as expected"
    )
    return 1 if bad or server_errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
