"""Static files (the admin's, the API docs') are served by the app itself, without DEBUG."""

import re

from django.test import override_settings


@override_settings(DEBUG=False)
def test_the_admins_stylesheet_is_served_with_caching_headers(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "max-age" in response["Cache-Control"]


@override_settings(DEBUG=False)
def test_the_api_docs_scripts_are_served(client):
    # Every script the docs page loads is there, as JavaScript, and is Swagger UI itself.
    page = client.get("/api/docs/")
    assert page.status_code == 200
    scripts = re.findall(r'<script src="(/static/[^"]+)"', page.content.decode())
    assert any(s.endswith("swagger-ui-bundle.js") for s in scripts), scripts
    for script in scripts:
        response = client.get(script)
        assert response.status_code == 200, script
        assert "javascript" in response["Content-Type"], (script, response["Content-Type"])
        body = b"".join(response.streaming_content)
        assert b"SwaggerUI" in body, script


def test_a_path_outside_the_static_files_is_not_served(client):
    for path in ("/static/../muses/settings.py", "/static/%2e%2e/muses/settings.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SECRET_KEY" not in response.content
