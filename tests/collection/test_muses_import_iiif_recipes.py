"""`muses_import --importer iiif` on the image patterns of the IIIF Cookbook (Presentation
3.0), each in a manifest written here: regions and rotations (SpecificResource with an
ImageApiSelector or a FragmentSelector), Choice, image services of every version, several
images on a canvas, properties that change nothing, and canvases that paint no image."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from muses.collection.models import Image
from tests.collection.iiif_server import image_v3, manifest_v2, manifest_v3, run_import

pytestmark = pytest.mark.django_db

RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture
def halves(server, tmp_path):
    """A 400x200 picture, red on the left, blue on the right, served as 'halves'."""
    picture = PILImage.new("RGB", (400, 200), RED)
    picture.paste(BLUE, (200, 0, 400, 200))
    path = tmp_path / "halves.png"
    picture.save(path)
    server.add_image("halves", path)
    return path


def stored_picture() -> PILImage.Image:
    (image,) = Image.objects.all()
    with image.file.open("rb") as handle:
        return PILImage.open(handle).convert("RGB")


def colour_at(picture: PILImage.Image, x: float, y: float) -> str:
    r, _, b = picture.getpixel((int(x * (picture.width - 1)), int(y * (picture.height - 1))))
    return "red" if r > 150 and b < 100 else "blue" if b > 150 and r < 100 else "other"


def specific(source, *selectors) -> dict:
    return {"type": "SpecificResource", "source": source, "selector": list(selectors)}


def import_one(server, name, body) -> tuple[str, str]:
    manifest = manifest_v3(server, name, [{"body": body}])
    return run_import(server.add_json(f"/manifests/{name}.json", manifest))


def test_a_region_in_an_image_api_selector_is_asked_of_the_image_server(server, halves):
    body = specific(
        image_v3(server, "halves"), {"type": "ImageApiSelector", "region": "200,0,200,200"}
    )
    out, err = import_one(server, "detail", body)
    assert "1 images added" in out and err == ""
    assert server.image_requests() == ["/iiif/3/halves/200,0,200,200/max/0/default.jpg"]
    picture = stored_picture()
    assert picture.size == (200, 200) and colour_at(picture, 0.5, 0.5) == "blue"
    # A result manifest shows the museum's own cut-out.
    assert Image.objects.get().iiif_body == {
        "id": f"{server.service(3, 'halves')}/200,0,200,200/max/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
    }


def test_a_fragment_selector_region_without_a_service_is_cut_from_the_fetched_pixels(
    server, halves
):
    source = {"id": f"{server.base}/files/halves.png", "type": "Image", "format": "image/png"}
    server.add_route("/files/halves.png", content_type="image/png", body=halves.read_bytes())
    body = specific(source, {"type": "FragmentSelector", "value": "xywh=0,0,200,200"})
    out, err = import_one(server, "fragment", body)
    assert "1 images added" in out and err == ""
    picture = stored_picture()
    assert picture.size == (200, 200)
    assert colour_at(picture, 0.1, 0.5) == colour_at(picture, 0.9, 0.5) == "red"
    assert Image.objects.get().iiif_body is None  # cut here: MUSES' copy is the one to show


def test_a_rotation_is_asked_of_a_level_2_server(server, halves):
    server.levels["halves"] = 2
    body = specific(image_v3(server, "halves"), {"type": "ImageApiSelector", "rotation": "90"})
    out, _ = import_one(server, "sideways", body)
    assert server.image_requests() == ["/iiif/3/halves/full/max/90/default.jpg"]
    picture = stored_picture()
    assert picture.size == (200, 400)
    assert (colour_at(picture, 0.5, 0.1), colour_at(picture, 0.5, 0.9)) == ("red", "blue")


def test_a_rotation_a_level_1_server_cannot_do_is_applied_to_the_fetched_pixels(server, halves):
    body = specific(
        image_v3(server, "halves"),
        {"type": "ImageApiSelector", "region": "200,0,200,200"},
        {"type": "ImageApiSelector", "rotation": "270"},
    )
    out, err = import_one(server, "turned", body)
    assert "1 images added" in out and err == ""
    assert server.image_requests() == ["/iiif/3/halves/full/max/0/default.jpg"]
    picture = stored_picture()
    assert picture.size == (200, 200) and colour_at(picture, 0.5, 0.5) == "blue"


def test_a_mirrored_rotation_on_a_full_image_is_applied_here(server, halves):
    body = specific(image_v3(server, "halves"), {"type": "ImageApiSelector", "rotation": "!0"})
    import_one(server, "mirror", body)
    picture = stored_picture()
    assert (colour_at(picture, 0.1, 0.5), colour_at(picture, 0.9, 0.5)) == ("blue", "red")


def test_a_level_0_server_is_asked_a_listed_size_and_the_region_is_cut_here(server, halves):
    server.levels["halves"] = 0  # lists 200x100 besides the full size
    body = specific(
        image_v3(server, "halves"), {"type": "ImageApiSelector", "region": "200,0,200,200"}
    )
    out, err = import_one(server, "level0", body)
    assert "1 images added" in out and err == ""
    assert server.image_requests() == ["/iiif/3/halves/full/200,100/0/default.jpg"]
    picture = stored_picture()
    assert picture.size == (100, 100) and colour_at(picture, 0.5, 0.5) == "blue"


def test_a_percent_region_in_a_v2_manifest_is_asked_of_a_v2_server(server, halves):
    server.levels["halves"] = 2
    resource = {
        "@type": "oa:SpecificResource",
        "full": {
            "@id": f"{server.service(2, 'halves')}/full/full/0/default.jpg",
            "@type": "dctypes:Image",
            "service": {
                "@id": server.service(2, "halves"),
                "profile": "http://iiif.io/api/image/2/level2.json",
            },
        },
        "selector": {"@type": "iiif:ImageApiSelector", "region": "pct:50,0,50,100"},
    }
    resource["source"] = resource.pop("full")
    manifest = manifest_v2(server, "pct", [{"resource": resource}])
    out, err = run_import(server.add_json("/manifests/pct.json", manifest))
    assert "1 images added" in out and err == ""
    assert server.image_requests() == ["/iiif/2/halves/pct:50,0,50,100/full/0/default.jpg"]
    assert colour_at(stored_picture(), 0.5, 0.5) == "blue"


def test_a_region_outside_the_image_is_one_line_for_its_canvas(server, halves):
    source = {"id": f"{server.base}/files/halves.png", "type": "Image"}
    server.add_route("/files/halves.png", content_type="image/png", body=halves.read_bytes())
    body = specific(source, {"type": "FragmentSelector", "value": "xywh=900,900,10,10"})
    out, err = import_one(server, "outside", body)
    assert "0 images added" in out
    assert err.strip().endswith("the selected region 900,900,10,10 lies outside the image")
    assert len(err.strip().splitlines()) == 1


def test_a_selector_that_is_not_a_region_skips_its_canvas_with_a_note(server, halves):
    body = specific(image_v3(server, "halves"), {"type": "ImageApiSelector", "region": "left"})
    manifest = manifest_v3(server, "odd", [{"body": body}, {"identifier": "MET_329767"}])
    out, err = run_import(server.add_json("/manifests/odd.json", manifest))
    assert "1 images added" in out and err == ""
    assert "p1: skipped: the selected region 'left' is not x,y,w,h, pct:x,y,w,h or square" in out
    assert server.image_requests() == ["/iiif/3/MET_329767/full/max/0/default.jpg"]


def test_a_choice_imports_its_first_option_and_names_the_others(server):
    body = {
        "type": "Choice",
        "items": [image_v3(server, "MET_329767"), image_v3(server, "MET_329774")],
    }
    out, _ = import_one(server, "choice", body)
    assert "1 images added" in out
    assert server.image_requests() == ["/iiif/3/MET_329767/full/max/0/default.jpg"]
    assert "a Choice of 2 resources; the first" in out and "MET_329774" in out


def test_image_services_of_either_version_and_spelling_import(server):
    v2_in_v3 = {
        "id": f"{server.service(2, 'MET_329767')}/full/full/0/default.jpg",
        "type": "Image",
        "service": [
            {
                "@id": server.service(2, "MET_329767"),
                "@type": "ImageService2",
                "profile": ["http://iiif.io/api/image/2/level1.json", {"supports": ["regionByPx"]}],
            }
        ],
    }
    v3_level2 = {
        "id": f"{server.service(3, 'MET_329774')}/full/max/0/default.jpg",
        "type": "Image",
        "service": [
            {"id": server.service(3, "MET_329774"), "type": "ImageService3", "profile": "level2"}
        ],
    }
    manifest = manifest_v3(server, "services", [{"body": v2_in_v3}, {"body": v3_level2}])
    out, err = run_import(server.add_json("/manifests/services.json", manifest))
    assert "2 images added" in out and err == ""
    assert sorted(server.image_requests()) == [
        "/iiif/2/MET_329767/full/full/0/default.jpg",
        "/iiif/3/MET_329774/full/max/0/default.jpg",
    ]


def test_a_canvas_painting_several_images_imports_the_largest_and_says_so(server):
    manifest = manifest_v3(server, "composite", [{"identifier": "MET_329767"}])
    canvas = manifest["items"][0]
    inset = {
        "id": f"{canvas['id']}/annotation/2",
        "type": "Annotation",
        "motivation": "painting",
        "body": image_v3(server, "MET_329774"),
        "target": f"{canvas['id']}#xywh=10,10,50,50",
    }
    canvas["items"][0]["items"].insert(0, inset)
    out, _ = run_import(server.add_json("/manifests/composite.json", manifest))
    assert "1 images added" in out
    assert server.image_requests() == ["/iiif/3/MET_329767/full/max/0/default.jpg"]
    assert "paints 2 images; the largest on the canvas" in out


def test_thumbnails_placeholders_start_rendering_and_nav_date_change_nothing(server):
    manifest = manifest_v3(
        server,
        "extras",
        [{"identifier": "MET_329767"}, {"identifier": "MET_329774"}],
        thumbnail=[image_v3(server, "MET_329778")],
        navDate="1921-01-01T00:00:00Z",
        behavior=["paged"],
        rendering=[{"id": f"{server.base}/book.pdf", "type": "Text", "format": "application/pdf"}],
    )
    manifest["start"] = {"id": manifest["items"][1]["id"], "type": "Canvas"}
    manifest["items"][0]["placeholderCanvas"] = manifest_v3(
        server, "poster", [{"identifier": "MET_329778"}]
    )["items"][0]
    out, err = run_import(server.add_json("/manifests/extras.json", manifest))
    assert "1 items created, 0 updated, 2 images added" in out and err == ""
    assert not [p for p in server.requests if "MET_329778" in p[1] or p[1].endswith(".pdf")]


def test_audio_and_video_canvases_are_skipped_with_one_line_each(server):
    sound = {"id": f"{server.base}/audio/song.mp4", "type": "Sound", "format": "audio/mp4"}
    video = {"id": f"{server.base}/video/film.mp4", "type": "Video", "format": "video/mp4"}
    canvases = [{"identifier": "MET_329767"}, {"body": sound}, {"body": video}]
    url = server.add_json("/manifests/media.json", manifest_v3(server, "media", canvases))
    out, err = run_import(url)
    assert "1 images added" in out and err == ""
    notes = [line for line in out.splitlines() if ": note: " in line]
    assert len(notes) == 2
    assert notes[0].endswith(
        "p2: skipped: it paints audio, not an image (MUSES imports images only)"
    )
    assert notes[1].endswith(
        "p3: skipped: it paints video, not an image (MUSES imports images only)"
    )
    assert not [p for _, p in server.requests if p.endswith(".mp4")]


def test_a_manifest_of_sound_only_is_skipped_with_its_reason(server):
    sound = {"id": f"{server.base}/audio/song.mp4", "type": "Sound", "format": "audio/mp4"}
    url = server.add_json("/manifests/radio.json", manifest_v3(server, "radio", [{"body": sound}]))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="nothing could be imported"):
        call_command("muses_import", url, "--importer", "iiif", stdout=out, stderr=err)
    assert "p1: skipped: it paints audio, not an image" in out.getvalue()
    assert err.getvalue().strip() == (
        f"{url}: skipped: no canvas paints an image MUSES can import (see the notes)"
    )
    assert Image.objects.count() == 0
