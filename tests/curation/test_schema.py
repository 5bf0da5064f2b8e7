"""/api/schema/ documents the label-issue endpoints."""

import yaml


def test_the_schema_documents_both_label_issue_lists(api):
    paths = yaml.safe_load(api.get("/api/schema/").content)["paths"]
    for path in ("/api/tags/{tag}/label-issues", "/api/naive/label-issues"):
        operation = paths[path]["get"]
        assert {"200", "404", "409"} <= set(operation["responses"]), path
        assert {"limit", "offset"} <= {p["name"] for p in operation["parameters"]}, path
