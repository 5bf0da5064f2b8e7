"""Every page's browser asks for /favicon.ico: MUSES answers with its icon, not a 404."""

from PIL import Image


def test_the_site_answers_its_icon_to_anyone(client, db, tmp_path):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age" in response["Cache-Control"]
    icon = tmp_path / "favicon.ico"
    icon.write_bytes(b"".join(response.streaming_content))
    with Image.open(icon) as image:
        assert image.format == "ICO" and (32, 32) in image.info["sizes"]
