"""manage.py muses_index rebuild|check|compact"""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from muses.vision.feature_index.handle import feature_index, feature_indexes_close
from muses.vision.feature_index.space import index_name
from muses.vision.models import ImageFeature
from muses.vision.store import features_extract

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("muses_index", *args, "--backbone", "tiny", stdout=out, verbosity=0)
    return out.getvalue()


@pytest.fixture
def stored(tiny_backbone, make_image):
    for i in range(4):
        make_image(image_id=f"i{i}", color=(i * 50, 20, 200 - i * 40))
    features_extract(backbone=tiny_backbone)
    return tiny_backbone


def index_file():
    return settings.MUSES_INDEX_DIR / f"{index_name('tiny')}.index"


def test_check_says_index_and_database_agree_after_extraction(stored):
    output = run("check")
    assert "4 rows" in output and "database: 4 rows" in output
    assert output.strip().endswith("index and database agree")


def test_check_reports_rows_the_index_lacks_and_rebuild_adds_them(stored, make_image):
    image = make_image(image_id="behind", color=(9, 9, 9))
    row = ImageFeature.objects.filter(backbone="tiny").first()
    ImageFeature.objects.bulk_create(
        [ImageFeature(image=image, backbone="tiny", weights_digest="x", dim=8, vector=row.vector)]
    )
    with pytest.raises(CommandError, match="disagree"):
        run("check")
    assert "rebuilt: 5 rows" in run("rebuild")
    assert run("check").strip().endswith("agree")


def test_check_reports_what_a_crashed_append_left_and_the_index_still_opens(stored):
    feature_indexes_close()
    with open(index_file(), "ab") as handle:
        handle.write(b"\x00" * 10)  # half a vector: the writer died before the header moved
    output = run("check")
    assert "an interrupted append left 10 bytes" in output and "agree" in output
    found, _ = feature_index("tiny").vectors_of(["i0", "i3"])
    assert found == ["i0", "i3"]


def test_check_refuses_a_foreign_file_and_rebuild_replaces_it(stored):
    index_file().write_bytes(b"GIF89a" + bytes(5000))
    with pytest.raises(CommandError, match="disagree"):
        run("check")
    assert "rebuilt: 4 rows" in run("rebuild")
    assert run("check").strip().endswith("agree")


def test_the_refusal_names_the_file_and_why(stored, capsys):
    index_file().write_bytes(b"GIF89a" + bytes(5000))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("muses_index", "check", "--backbone", "tiny", stdout=out, verbosity=0)
    assert f"refused: {index_file()} is not a MUSES feature index" in out.getvalue()


def test_compact_drops_the_rows_of_deleted_images(stored):
    ImageFeature.objects.filter(image__image_id__in=["i1", "i2"]).delete()
    assert "2 rows kept, 2 dropped" in run("compact")
    assert run("check").strip().endswith("agree")
    assert feature_index("tiny").vectors_of(["i0", "i1", "i3"])[0] == ["i0", "i3"]


def test_an_unknown_backbone_is_refused():
    with pytest.raises(CommandError, match="Unknown backbone 'resnet'"):
        call_command("muses_index", "check", "--backbone", "resnet")


def test_check_reports_the_recall_of_similar_search_on_the_librarys_own_rows(stored, settings):
    settings.MUSES_INDEX_CELLS_MIN_ROWS = 1  # cells even for four rows
    run("rebuild")
    output = run("check", "--recall-sample", "3")
    probe = settings.MUSES_SIMILAR_PROBE
    assert f"similar images: recall@10 1.000 at MUSES_SIMILAR_PROBE={probe} on 3 of" in output


def test_check_says_similar_search_is_exact_while_the_index_has_no_cells(stored):
    assert "similar images: exact search (the index has no cells)" in run("check")


def test_a_rebuild_killed_midway_leaves_nothing_once_the_next_one_ran(stored):
    import os
    import time

    import numpy as np

    from muses.vision.feature_index import swap
    from muses.vision.feature_index.space import INDEX_DTYPE

    run("rebuild")
    directory = settings.MUSES_INDEX_DIR
    before = sorted(p.name for p in directory.iterdir())
    pid = os.fork()
    if pid == 0:  # the writer, killed (no clean-up runs) after its first batch

        def batches():
            yield np.array([1]), np.array([1]), np.zeros((1, 8), np.float32)
            os._exit(9)

        swap.index_write(
            directory, index_name("tiny"), dim=8, dtype=INDEX_DTYPE, batches=batches(),
            cell_model=None,
        )  # fmt: skip
        os._exit(0)
    os.waitpid(pid, 0)
    left = [p for p in directory.iterdir() if p.name not in before]
    assert any(p.name.endswith(".rows") for p in left) and len(left) == 2
    assert "rebuilt: 4 rows" in run("rebuild")  # a writer this young may be alive: kept
    assert all(p.exists() for p in left)
    long_ago = time.time() - 3600
    for path in left:
        os.utime(path, (long_ago, long_ago))
    assert "rebuilt: 4 rows" in run("rebuild")
    assert not any(p.exists() for p in left)
    assert len(list(directory.glob("*.rows"))) == 1 and run("check").strip().endswith("agree")
