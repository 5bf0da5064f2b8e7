"""/api/schema/ documents every custom-tagging operation."""

import threading
import time

import yaml
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIRequestFactory

from muses.schema import SchemaView

SEED_PATHS = [
    "/system/database/image/add",
    "/custom/assign/{image_id}/{sample_type}/{tag}",
    "/custom/train/{tag}",
    "/status/{task_id}",
    "/custom/delete/{tag}",
    "/predict/custom/{tag}",
    "/predict/custom",
    "/predict",
    "/custom/predict/{image_id}",
    "/custom/predict/{tag}/{image_id}",
    "/custom/predict_batch",
    "/set_state",
    "/get_state",
]


def test_the_schema_lists_the_seed_paths_with_their_methods(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    for path in SEED_PATHS:
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/custom/train/{tag}"])
    assert {"get", "post"} <= set(paths["/custom/assign/{image_id}/{sample_type}/{tag}"])
    upload = paths["/predict/custom/{tag}"]["post"]["requestBody"]["content"]
    assert "data" in upload["multipart/form-data"]["schema"]["$ref"] or upload


def test_the_schema_documents_the_rest_resources_and_error_replies(api):
    paths = yaml.safe_load(api.get("/api/schema/").content)["paths"]
    assert "/api/tags/{tag}/versions/{number}/activate" in paths
    assert "/api/predictions/{task_id}/csv" in paths
    responses = paths["/system/database/image/add"]["post"]["responses"]
    assert {"201", "400", "409", "413"} <= set(responses)


def test_concurrent_first_schema_requests_are_generated_one_at_a_time(api, monkeypatch):
    """drf-spectacular's lazy extension loading races under threads: one at a time."""

    original, running, most = SchemaGenerator.get_schema, [0], [0]
    counter = threading.Lock()

    def observed(self, *args, **kwargs):
        with counter:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return original(self, *args, **kwargs)
        finally:
            with counter:
                running[0] -= 1

    monkeypatch.setattr(SchemaGenerator, "get_schema", observed)

    view = SchemaView.as_view()

    codes = []
    threads = [
        threading.Thread(
            target=lambda: codes.append(view(APIRequestFactory().get("/api/schema/")).status_code)
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 4 and most[0] == 1
