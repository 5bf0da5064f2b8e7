"""POST /set_state (data=tar): all or nothing, nothing unsafe."""

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from custom_tagging.models import Assignment, CustomTag, TagVersion
from tests.custom_tagging.conftest import RED


def as_upload(content: bytes) -> dict:
    return {"data": SimpleUploadedFile("state.tar", content, "application/x-tar")}


def files_of(content: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}


def build_tar(files: dict[str, bytes], extra=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return buffer.getvalue()


def resigned(files: dict[str, bytes], **manifest_changes) -> dict[str, bytes]:
    """The files with an edited manifest whose checksums match again."""
    manifest = json.loads(files["manifest.json"])
    manifest.update(manifest_changes)
    rest = {k: v for k, v in files.items() if k != "manifest.json"}
    manifest["files"] = {k: hashlib.sha256(v).hexdigest() for k, v in rest.items()}
    return {"manifest.json": json.dumps(manifest).encode(), **rest}


@pytest.fixture
def exported(api, trained_tag):
    """A state with tag 'red' (trained), exported, then the tag reset here."""
    trained_tag("red")
    content = api.get("/get_state").content
    api.get("/custom/delete/red")
    return content


def test_loading_a_state_restores_the_tag_its_model_and_assignments(api, exported, upload):
    response = api.post("/set_state", as_upload(exported), format="multipart")
    assert response.status_code == 200
    assert response.json() == {
        "tags": 1,
        "versions": 1,
        "versions_unchanged": 0,
        "assignments": 12,
        "assignments_skipped": 0,
        "features": 0,
    }
    assert Assignment.objects.filter(tag__name="red").count() == 12
    red = api.post("/predict/custom/red", {"data": upload(RED)}, format="multipart").json()
    assert red["prediction"] is True and red["version"] == 1


def test_a_round_trip_gives_the_same_scores(api, exported):
    api.post("/set_state", as_upload(exported), format="multipart")
    files = files_of(exported)
    doc = json.loads(files["tags/00000.json"])
    imported = TagVersion.objects.get(tag__name="red", is_active=True)
    assert imported.threshold == doc["model"]["threshold"]
    assert imported.metrics["imported"]["version"] == 1
    coef = np.load(io.BytesIO(files["tags/00000.coef.npy"]))
    assert np.array_equal(imported.coef_array(), coef)
    assert imported.intercept == doc["model"]["intercept"]


def test_a_tag_reset_then_loaded_from_its_state_scores_every_image_as_before(api, trained_tag):
    trained_tag("red")
    names = ["red-pos-0", "red-neg-1", "red-neg-4"]
    before = [api.get(f"/custom/predict/red/{name}").json() for name in names]
    content = api.get("/get_state").content
    api.get("/custom/delete/red")
    assert api.post("/set_state", as_upload(content), format="multipart").status_code == 200
    assert [api.get(f"/custom/predict/red/{name}").json() for name in names] == before


def test_loading_the_same_state_again_adds_no_version(api, trained_tag):
    trained_tag("red")
    before = api.get("/custom/predict/red/red-neg-1").json()
    content = api.get("/get_state").content
    for _ in range(2):
        body = api.post("/set_state", as_upload(content), format="multipart").json()
        assert body["versions"] == 0 and body["versions_unchanged"] == 1
    assert TagVersion.objects.filter(tag__name="red").count() == 1
    assert api.get("/custom/predict/red/red-neg-1").json() == before


def test_a_state_with_another_threshold_adds_a_new_active_version(api, trained_tag):
    trained_tag("red")
    files = files_of(api.get("/get_state").content)
    doc = json.loads(files["tags/00000.json"])
    doc["model"]["threshold"] = 0.999
    files["tags/00000.json"] = json.dumps(doc).encode()
    body = api.post("/set_state", as_upload(build_tar(resigned(files))), format="multipart").json()
    assert body["versions"] == 1 and body["versions_unchanged"] == 0
    assert TagVersion.objects.get(tag__name="red", is_active=True).number == 2


def test_loading_a_state_relabels_images_already_assigned_here(api, trained_tag):
    trained_tag("red")
    content = api.get("/get_state").content
    api.get("/custom/assign/red-pos-0/negative/red")
    api.get("/custom/assign/red-neg-0/positive/red")
    response = api.post("/set_state", as_upload(content), format="multipart")
    assert response.status_code == 200, response.content
    labels = dict(
        Assignment.objects.filter(tag__name="red").values_list("image__image_id", "label")
    )
    assert labels["red-pos-0"] == "positive" and labels["red-neg-0"] == "negative"
    assert len(labels) == 12


def test_assignments_of_images_not_here_are_skipped_and_counted(api, exported):
    from muses.collection.models import Image

    Image.objects.filter(image_id__startswith="red-neg").delete()
    body = api.post("/set_state", as_upload(exported), format="multipart").json()
    assert body["assignments"] == 6 and body["assignments_skipped"] == 6


def test_features_in_the_state_are_stored_for_images_without_them(api, trained_tag):
    from muses.vision.models import ImageFeature

    trained_tag("red")
    content = api.get("/get_state?include_features=1").content
    ImageFeature.objects.all().delete()
    body = api.post("/set_state", as_upload(content), format="multipart").json()
    assert body["features"] == 12 and ImageFeature.objects.count() == 12


def test_another_backbone_is_refused_with_400(api, exported):
    files = resigned(files_of(exported), backbone="vgg19")
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "vgg19" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_other_weights_of_the_same_backbone_are_refused(api, exported):
    files = resigned(files_of(exported), weights_digest="0000")
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "weights" in response.json()["detail"]


def test_vectors_of_another_numerics_family_are_refused_and_never_mixed(api, exported):
    files = resigned(files_of(exported), numerics_family="openvino-bf16")
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "'openvino-bf16' numerics family" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_a_state_from_before_vectors_recorded_their_numerics_is_read_as_fp32(api, exported):
    manifest = json.loads(files_of(exported)["manifest.json"])
    assert manifest["numerics_family"] == "fp32"
    files = files_of(exported)
    del manifest["numerics_family"]
    files["manifest.json"] = json.dumps(manifest).encode()
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 200


def test_a_member_with_dotdot_is_refused(api, exported):
    files = files_of(exported)
    files["../evil.json"] = b"{}"
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "'..'" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_a_member_with_an_absolute_path_is_refused(api, exported):
    files = files_of(exported)
    files["/etc/cron.d/evil"] = b"* * * * * root true"
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "absolute path" in response.json()["detail"]


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused(api, exported, kind):
    link = tarfile.TarInfo("tags/link.json")
    link.type, link.linkname = kind, "/etc/passwd"
    content = build_tar(files_of(exported), extra=[link])
    response = api.post("/set_state", as_upload(content), format="multipart")
    assert response.status_code == 400
    assert "links are not allowed" in response.json()["detail"]


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_refused(api, exported, kind):
    device = tarfile.TarInfo("dev/zero")
    device.type = kind
    content = build_tar(files_of(exported), extra=[device])
    response = api.post("/set_state", as_upload(content), format="multipart")
    assert response.status_code == 400
    assert "not allowed" in response.json()["detail"] or "regular" in response.json()["detail"]


def test_members_are_read_in_memory_never_extracted(api, exported, tmp_path, monkeypatch):
    for method in ("extract", "extractall"):
        monkeypatch.setattr(tarfile.TarFile, method, lambda *a, **k: pytest.fail("extracted"))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    files = files_of(exported)
    files["escape.txt"] = b"should never land on disk"
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 200
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("keep", ["header", "data"])
def test_a_truncated_tar_is_refused_and_changes_nothing(api, exported, keep):
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        last = archive.getmembers()[-1]
    cut = last.offset + 100 if keep == "header" else last.offset_data + last.size // 2
    response = api.post("/set_state", as_upload(exported[:cut]), format="multipart")
    assert response.status_code == 400
    assert not CustomTag.objects.exists()


def test_a_corrupted_member_fails_its_checksum(api, exported):
    files = files_of(exported)
    files["tags/00000.json"] = files["tags/00000.json"].replace(b'"red"', b'"rex"')
    response = api.post("/set_state", as_upload(build_tar(files)), format="multipart")
    assert response.status_code == 400
    assert "checksum" in response.json()["detail"]


def test_garbage_is_not_a_tar(api):
    response = api.post("/set_state", as_upload(b"\x00garbage" * 200), format="multipart")
    assert response.status_code == 400
    assert "tar" in response.json()["detail"]


def test_a_pickled_npy_is_refused(api, exported):
    files = files_of(exported)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    files["tags/00000.coef.npy"] = buffer.getvalue()
    content = build_tar(resigned(files))
    response = api.post("/set_state", as_upload(content), format="multipart")
    assert response.status_code == 400
    assert ".npy" in response.json()["detail"]


def test_a_coef_of_the_wrong_size_is_refused(api, exported):
    files = files_of(exported)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(10, np.float32))
    files["tags/00000.coef.npy"] = buffer.getvalue()
    response = api.post("/set_state", as_upload(build_tar(resigned(files))), format="multipart")
    assert response.status_code == 400
    assert "shape" in response.json()["detail"]


def test_one_bad_tag_leaves_all_tags_unloaded(api, trained_tag):
    trained_tag("red")
    trained_tag("scarlet")
    files = files_of(api.get("/get_state").content)
    api.get("/custom/delete/red")
    api.get("/custom/delete/scarlet")
    doc = json.loads(files["tags/00001.json"])
    doc["model"]["threshold"] = 7
    files["tags/00001.json"] = json.dumps(doc).encode()
    response = api.post("/set_state", as_upload(build_tar(resigned(files))), format="multipart")
    assert response.status_code == 400
    assert "threshold" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_a_state_over_the_size_cap_is_refused(api, exported, settings):
    settings.MUSES_STATE_MAX_BYTES = 1000
    response = api.post("/set_state", as_upload(exported), format="multipart")
    assert response.status_code == 413


def test_it_needs_the_data_field(api):
    assert api.post("/set_state", {}, format="multipart").status_code == 400


def test_it_needs_a_token(anonymous, exported):
    assert anonymous.post("/set_state", as_upload(exported), format="multipart").status_code == 401


def test_an_image_listed_twice_keeps_its_first_vector_in_the_database_and_the_index(
    api, trained_tag
):
    from muses.vision.feature_index.handle import feature_index
    from muses.vision.models import ImageFeature

    trained_tag("red")
    files = files_of(api.get("/get_state?include_features=1").content)
    ids = json.loads(files["features/image_ids.json"])
    vectors = np.load(io.BytesIO(files["features/vectors.npy"]))
    doubled = np.concatenate([vectors[:1], vectors[:1] + 1.0])
    buffer = io.BytesIO()
    np.save(buffer, doubled.astype(vectors.dtype))
    files["features/image_ids.json"] = json.dumps([ids[0], ids[0]]).encode()
    files["features/vectors.npy"] = buffer.getvalue()
    ImageFeature.objects.all().delete()
    body = api.post("/set_state", as_upload(build_tar(resigned(files))), format="multipart")
    assert body.status_code == 200, body.content
    assert body.json()["features"] == 1
    stored = ImageFeature.objects.get(image__image_id=ids[0]).as_array()
    _, indexed = feature_index().vectors_of([ids[0]])
    np.testing.assert_allclose(stored, vectors[0], rtol=1e-6)
    np.testing.assert_allclose(indexed[0], vectors[0], rtol=1e-3, atol=1e-3)


def test_a_vector_of_another_numerics_family_is_replaced_by_the_states_own(api, trained_tag):
    from muses.vision.models import ImageFeature

    trained_tag("red")
    content = api.get("/get_state?include_features=1").content
    first = ImageFeature.objects.order_by("image__image_id").first()
    image_id = first.image.image_id
    ImageFeature.objects.exclude(pk=first.pk).delete()
    ImageFeature.objects.filter(pk=first.pk).update(engine="openvino", precision="bf16")
    body = api.post("/set_state", as_upload(content), format="multipart").json()
    assert body["features"] == 12
    row = ImageFeature.objects.get(image__image_id=image_id)
    assert row.precision == "fp32" and ImageFeature.objects.count() == 12
