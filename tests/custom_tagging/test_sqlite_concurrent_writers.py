"""The embedded SQLite file database under the seed's concurrent clients: assign, predict
and train at once from several threads, each with its own connection, as gunicorn's
threads and the queue worker are."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from custom_tagging.models import Assignment, TrainingJob

CLIENTS = 8
ROUNDS = 12


@pytest.fixture
def sqlite_file(transactional_db):
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        pytest.skip("concerns the SQLite file database")


def client_loop(index: int, image_ids: list[str], barrier: threading.Barrier) -> list:
    """One client: assign, predict and train in turn; the replies it got."""
    client = APIClient()
    replies = []
    barrier.wait()
    try:
        for step in range(ROUNDS):
            image_id = image_ids[(index + step) % len(image_ids)]
            label = "positive" if (index + step) % 2 else "negative"
            kind = step % 3
            if kind == 0:
                response = client.get(f"/custom/assign/{image_id}/{label}/load{index % 2}")
            elif kind == 1:
                response = client.get(f"/custom/predict/{image_id}")
            else:
                response = client.get(f"/custom/train/load{index % 2}")
            replies.append((response.status_code, response.content[:300]))
    finally:
        connections.close_all()
    return replies


def test_concurrent_assign_predict_and_train_never_hit_a_locked_database(
    sqlite_file, settings, add_image, api
):
    settings.MUSES_API_OPEN = True
    image_ids = [add_image(f"w{i}", (20 * i, 100, 200 - 20 * i)) for i in range(8)]
    for tag in ("load0", "load1"):
        for i, image_id in enumerate(image_ids):
            api.get(f"/custom/assign/{image_id}/{'positive' if i % 2 else 'negative'}/{tag}")
    barrier = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        runs = list(pool.map(client_loop, range(CLIENTS), [image_ids] * CLIENTS, [barrier] * 8))
    replies = [reply for run in runs for reply in run]
    assert not [r for r in replies if b"locked" in r[1]]
    # A training may answer 409 while another of the same tag runs; nothing else fails.
    assert {code for code, _ in replies} <= {200, 202, 409}, replies
    assert Assignment.objects.count() == 16
    assert not TrainingJob.objects.filter(error__icontains="locked").exists()
    assert TrainingJob.objects.filter(state="success").exists()
