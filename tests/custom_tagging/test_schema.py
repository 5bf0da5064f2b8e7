"""/api/schema/ documents every custom-tagging operation."""

import yaml

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
