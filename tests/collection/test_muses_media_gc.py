from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def gc(*args):
    out, err = StringIO(), StringIO()
    call_command("muses_media_gc", "--min-age", "0", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_removes_files_left_by_an_interrupted_upload(isolated_media, make_image):
    kept = make_image()
    stray = isolated_media / "images" / "ab" / "cd"
    stray.mkdir(parents=True)
    (stray / ".upload-x1y2").write_bytes(b"half a jpeg")
    (stray / "abcd0000.jpg").write_bytes(b"renamed but never committed")
    out, _ = gc()
    assert "removed 2 unreferenced file(s); 0 row(s) without a file" in out
    assert not any(stray.iterdir())
    assert (isolated_media / kept.file.name).exists()


def test_a_dry_run_removes_nothing(isolated_media, make_image):
    make_image()
    (isolated_media / "images" / "orphan.jpg").write_bytes(b"x")
    out, _ = gc("--dry-run")
    assert "would remove 1" in out
    assert (isolated_media / "images" / "orphan.jpg").exists()


def test_it_lists_rows_whose_file_is_gone(isolated_media, make_image):
    image = make_image()
    (isolated_media / image.file.name).unlink()
    out, err = gc()
    assert "1 row(s) without a file" in out and image.file.name in err
