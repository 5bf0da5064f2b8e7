"""Static files (the admin's, the API docs') are served by the app itself, without DEBUG."""

from django.test import override_settings


@override_settings(DEBUG=False)
def test_the_admins_stylesheet_is_served_with_caching_headers(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "max-age" in response["Cache-Control"]


def test_the_api_docs_script_is_served(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200


def test_a_path_outside_the_static_files_is_not_served(client):
    for path in ("/static/../muses/settings.py", "/static/%2e%2e/muses/settings.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SECRET_KEY" not in response.content
