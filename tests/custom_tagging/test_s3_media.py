"""The API with media in an S3-compatible bucket (MUSES_STORAGE=s3)."""

import csv
import io

from muses.collection.models import Image
from muses.collection.services import image_store
from muses.vision.models import ImageFeature
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, RED

URL = "/system/database/image/add"


def test_an_image_added_through_the_api_is_stored_in_the_bucket_and_predicted(
    s3_media, api, upload, trained_tag
):
    trained_tag("red")
    response = api.post(f"{URL}?image_id=new-red", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 201, response.content
    image = Image.objects.get(image_id="new-red")
    assert image.file.name in s3_media.keys("images/")
    assert s3_media.read(image.file.name) == encode_image(size=(40, 40), color=RED)
    listed = api.get("/api/images/new-red").json()["url"]
    assert listed.startswith(f"{s3_media.endpoint}/{s3_media.name}/{image.file.name}")
    # Without stored features the prediction reads the image back from the bucket.
    ImageFeature.objects.filter(image=image).delete()
    prediction = api.get("/custom/predict/red/new-red")
    assert prediction.status_code == 200, prediction.content
    assert prediction.json()["prediction"] is True
    assert ImageFeature.objects.filter(image=image).exists()


def test_the_same_upload_twice_is_one_object_in_the_bucket(s3_media, api, upload):
    for image_id in ("once", "twice"):
        response = api.post(
            f"{URL}?image_id={image_id}", {"data": upload(BLUE)}, format="multipart"
        )
        assert response.status_code == 201
    assert len(s3_media.keys("images/")) == 1
    assert Image.objects.filter(image_id__in=["once", "twice"]).count() == 2


def test_a_library_prediction_reads_images_and_writes_its_csv_in_the_bucket(
    s3_media, api, trained_tag
):
    trained_tag("red")
    # Stored without features: the job extracts them from the bucket first.
    image_store(data=encode_image(color=BLUE), name="b.jpg", image_id="imported-blue")
    task_id = api.post("/api/predictions", {"tags": ["red"]}, format="json").json()["task_id"]
    status = api.get(f"/status/{task_id}").json()
    assert status["state"] == "success", status
    assert s3_media.keys("predictions/") == [f"predictions/{task_id}.csv"]
    download = api.get(status["result_url"])
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert {row["image_id"]: row["red:prediction"] for row in rows}["imported-blue"] == "0"


def test_a_csv_gone_from_the_bucket_is_409(s3_media, api, trained_tag):
    trained_tag("red")
    task_id = api.post("/api/predictions", {"tags": ["red"]}, format="json").json()["task_id"]
    s3_media.delete(f"predictions/{task_id}.csv")
    response = api.get(f"/api/predictions/{task_id}/csv")
    assert response.status_code == 409 and "gone" in response.json()["detail"]
