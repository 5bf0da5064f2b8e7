"""GET / : the landing page with live counts and links to the admin and the API docs."""

import pytest
from django.utils.html import escape

from custom_tagging.models import CustomTag
from tests.jobs.test_waiting_jobs import live_worker


@pytest.fixture
def queue(settings):
    """Jobs go to a queue, and no cluster stats are left from earlier tests."""
    from django.core.cache import cache

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    cache.clear()


def test_it_answers_a_page_linking_the_admin_and_the_api_docs(client, db):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/admin/"' in html and 'href="/api/docs/"' in html


def test_it_counts_images_features_pending_and_tags(client, make_image, queue):
    make_image("a")
    make_image("b", color=(1, 2, 3))  # stored without features, as an import stores them
    CustomTag.objects.create(name="vessel")
    html = client.get("/").content.decode()
    assert '<dd id="images">2</dd>' in html
    assert '<dd id="features-pending">2</dd>' in html
    assert '<dd id="tags">1 (0 trained)</dd>' in html


def test_without_a_worker_it_says_to_start_qcluster(client, db, queue):
    html = client.get("/").content.decode()
    assert '<dd id="workers-alive">0</dd>' in html
    assert escape("manage.py qcluster") in html


def test_it_counts_the_workers_alive(client, db, queue):
    live_worker(busy=False)
    html = client.get("/").content.decode()
    assert '<dd id="workers-alive">1</dd>' in html
    assert "No queue worker" not in html
