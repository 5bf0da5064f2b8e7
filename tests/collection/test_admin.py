import pytest
from django.urls import reverse

from muses.collection.models import Item

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("curator", "c@example.org", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def vase(make_image):
    item = Item.objects.create(
        museum="Met", object_number="10.1", title="Jar with lid", object_type="Vessel"
    )
    image = make_image(image_id="jar-1", item=item)
    return item, image


def test_the_image_list_shows_thumbnails_and_titles(curator_client, vase):
    item, image = vase
    page = curator_client.get(reverse("admin:collection_image_changelist"))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'src="/media/{image.file.name}"' in html and "Jar with lid" in html


def test_the_image_list_filters_by_museum_and_object_type(curator_client, vase, make_image):
    other = Item.objects.create(
        museum="Cleveland", object_number="1", title="Coin", object_type="Coin"
    )
    make_image(image_id="coin-1", item=other)
    page = curator_client.get(
        reverse("admin:collection_image_changelist"), {"item__object_type": "Coin"}
    )
    html = page.content.decode()
    assert "coin-1" in html and "jar-1" not in html


def test_the_item_search_finds_titles_and_object_numbers(curator_client, vase):
    url = reverse("admin:collection_item_changelist")
    assert "Jar with lid" in curator_client.get(url, {"q": "jar"}).content.decode()
    assert "Jar with lid" in curator_client.get(url, {"q": "10.1"}).content.decode()
    assert "Jar with lid" not in curator_client.get(url, {"q": "sarcophagus"}).content.decode()


def test_the_image_page_shows_a_large_preview(curator_client, vase):
    _, image = vase
    page = curator_client.get(reverse("admin:collection_image_change", args=[image.pk]))
    assert page.status_code == 200
    assert "max-height:512px" in page.content.decode()


def test_the_item_page_lists_its_images_inline(curator_client, vase):
    item, image = vase
    page = curator_client.get(reverse("admin:collection_item_change", args=[item.pk]))
    assert page.status_code == 200 and image.image_id in page.content.decode()


def test_media_files_are_served_for_the_thumbnails(curator_client, vase):
    _, image = vase
    response = curator_client.get(f"/media/{image.file.name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
