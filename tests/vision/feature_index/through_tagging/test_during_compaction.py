"""Uploads, deletes and requests that meet a compaction swapping the index file in: the
writer waited for the writers' lock while the compaction carried over, then finds the file
replaced. Nothing may be lost, kept alive or answered with a 500."""

import threading
import time

from muses.collection.models import Image
from muses.vision.feature_index import rewrite
from muses.vision.feature_index.handle import feature_index
from muses.vision.feature_index.maintenance import index_check
from muses.vision.feature_index.space import index_name
from muses.vision.models import ImageFeature
from tests.custom_tagging.conftest import TINY_NAME


def compaction_in_its_last_step(monkeypatch, seconds: float = 0.5) -> threading.Thread:
    from django.conf import settings

    """A compaction holding the writers' lock in its carry-over step (as another process's
    would, fsyncing a large copy) until `seconds` have passed."""
    carrying = threading.Event()
    carry_over = rewrite._carry_over

    def slow(*args, **kwargs):
        carrying.set()
        time.sleep(seconds)
        return carry_over(*args, **kwargs)

    monkeypatch.setattr(rewrite, "_carry_over", slow)
    thread = threading.Thread(
        target=rewrite.index_rewrite,
        args=(settings.MUSES_INDEX_DIR, index_name(TINY_NAME)),
        kwargs={"regroup_from": None},
    )
    thread.start()
    carrying.wait()
    return thread


def four_images(add_image) -> None:
    for i in range(4):
        add_image(f"a{i}", (i * 30 % 256, 40 + i * 10, 200 - i * 15))
    feature_index(TINY_NAME).file()


def test_an_upload_meeting_the_swap_is_in_the_new_index(api, add_image, monkeypatch):
    four_images(add_image)
    compaction = compaction_in_its_last_step(monkeypatch)
    add_image("meanwhile", (10, 220, 10))
    compaction.join()
    similar = [s["image_id"] for s in api.get("/similar/a0?n=40").json()["similar"]]
    assert "meanwhile" in similar
    assert index_check(backbone=TINY_NAME).missing == 0


def test_a_delete_meeting_the_swap_is_tombstoned_in_the_new_index(api, add_image, monkeypatch):
    four_images(add_image)
    compaction = compaction_in_its_last_step(monkeypatch)
    Image.objects.get(image_id="a1").delete()
    compaction.join()
    assert index_check(backbone=TINY_NAME).orphans == 0
    assert [s["image_id"] for s in api.get("/similar/a0?n=2").json()["similar"]] == ["a2", "a3"]


def test_a_request_catching_up_during_the_swap_is_answered(api, add_image, monkeypatch, settings):
    four_images(add_image)
    # A row another machine stored: this machine's index learns of it by the catch-up.
    row = ImageFeature.objects.get(image__image_id="a2")
    ImageFeature.objects.filter(pk=row.pk)._raw_delete(ImageFeature.objects.db)
    row.pk = None
    row.save()
    settings.MUSES_INDEX_POLL_S = 0
    compaction = compaction_in_its_last_step(monkeypatch)
    response = api.get("/similar/a0?n=3")
    compaction.join()
    assert response.status_code == 200, response.content
    assert len(response.json()["similar"]) == 3


def test_a_library_stream_goes_on_when_another_thread_reopens_the_index(api, add_image):
    for i in range(6):
        add_image(f"a{i}", (i * 30 % 256, 40 + i * 10, 200 - i * 15))
    from django.conf import settings

    index = feature_index(TINY_NAME)
    stream = index.live_chunks(2)
    first, _ = next(stream)
    rewrite.index_compact(settings.MUSES_INDEX_DIR, index_name(TINY_NAME))
    index.file()  # another request thread of the same process looks: it reopens
    rest = [i for ids, _ in stream for i in ids]
    assert sorted(first + rest) == [f"a{i}" for i in range(6)]
