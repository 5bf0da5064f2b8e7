"""GET /get_state"""

import io
import json
import tarfile

import numpy as np


def members_of(content: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}


def test_it_returns_a_tar_with_manifest_tag_json_and_npy(api, trained_tag):
    trained_tag("red")
    response = api.get("/get_state")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-tar"
    assert 'filename="state.tar"' in response["Content-Disposition"]
    files = members_of(response.content)
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == 1
    assert manifest["backbone"] == "tiny_tagging"
    assert manifest["weights_digest"] == "tiny-tagging-v1"
    assert manifest["feature_dim"] == 64 and manifest["features"] is None
    tag = json.loads(files[manifest["tags"][0]])
    assert tag["name"] == "red"
    assert sorted(tag["assignments"]["positive"]) == [f"red-pos-{i}" for i in range(6)]
    assert tag["model"]["version"] == 1 and 0 < tag["model"]["threshold"] < 1
    coef = np.load(io.BytesIO(files[tag["model"]["coef"]]), allow_pickle=False)
    assert coef.shape == (64,) and coef.dtype == np.float32


def test_it_can_include_the_stored_features(api, trained_tag):
    trained_tag("red")
    files = members_of(api.get("/get_state?include_features=1").content)
    ids = json.loads(files["features/image_ids.json"])
    vectors = np.load(io.BytesIO(files["features/vectors.npy"]), allow_pickle=False)
    assert len(ids) == 12 and vectors.shape == (12, 64)


def test_an_untrained_tag_is_exported_with_its_assignments_only(api, labelled_tag):
    labelled_tag("red", positives=1, negatives=1)
    files = members_of(api.get("/get_state").content)
    tag = json.loads(files["tags/00000.json"])
    assert tag["model"] is None and tag["assignments"]["negative"] == ["red-neg-0"]


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/get_state").status_code == 401
