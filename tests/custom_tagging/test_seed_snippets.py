"""The seed document's snippets (customized-training.rst), run against a live server.

The snippet text below is copied from the seed unchanged, except where a snippet cannot run
as printed: the host 127.0.0.1:5000 becomes the test server's, the `images = [...]` line
with its literal `...` gets real files, `Pool(50)` processes become 4 threads, and
`get_predictions_batch`'s undefined `session` is provided. The curl lines run with curl
when it is installed, and through `requests` otherwise.
"""

import json
import shlex
import shutil
import subprocess
import textwrap
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections

from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, RED, shade

SEED_HOST = "http://127.0.0.1:5000"

ADD_SAMPLE = """
def add_sample(item):
  img_path = item['path']
  image_id = item['image_id']
  with open(img_path, 'rb') as image:
      data = {'data': image}
      r = requests.post('http://127.0.0.1:5000/system/database/image/add?image_id=%s' % image_id, files=data).json()
  return r
"""  # noqa: E501

POOL = """
from multiprocessing import Pool
import requests

def add_sample(item):
  img_path = item['path']
  image_id = item['image_id']
  with open(img_path, 'rb') as image:
      data = {'data': image}
      r = requests.post('http://127.0.0.1:5000/system/database/image/add?image_id=%s' % image_id, files=data).json()
  return r

pool = Pool(50)
images = [{'image_id': '1', 'path': path_to_image1}, {'image_id': '2', 'path': path_to_image2}, ...] #List of image paths
results = pool.map(add_sample, images)
pool.close()
pool.join()
"""  # noqa: E501

ASSIGN = """
def assign_image(sample_type, tag, image_id):
    url = 'http://127.0.0.1:5000/custom/assign/%s/%s/%s'%(image_id, sample_type, tag)
    r = requests.get(url).json()
    return r
"""

PREDICT_CUSTOM_TAG = """
def get_custom_predictions(img, tag):
   with open(img,'rb') as image:
       data = {'data': image}
       pred = requests.post('http://127.0.0.1:5000/predict/custom/%s'%tag, files=data).json()
   return pred
"""

PREDICT_CUSTOM_ALL = """
def get_custom_predictions(img):
   with open(img,'rb') as image:
       data = {'data': image}
       pred = requests.post('http://127.0.0.1:5000/predict/custom', files=data).json()
   return pred
"""

PREDICT_ALL = """
def get_predictions(img):
   with open(img,'rb') as image:
       data = {'data': image}
       pred = requests.post('http://127.0.0.1:5000/predict', files=data).json()
   return pred
"""

PREDICT_ADDED = """
def get_predictions_added(image_id, tag=None):
    if tag is None:
        pred = requests.get('http://127.0.0.1:5000/custom/predict/%s'%(image_id)).json()
    else:
        pred = requests.get('http://127.0.0.1:5000/custom/predict/%s/%s'%(tag, image_id)).json()
    return pred
"""

PREDICT_BATCH = """
def get_predictions_batch(image_id_list, tag_list):
    pred = session.get('http://127.0.0.1:5000/custom/predict_batch?tags=%s&image_id=%s'%
                      (','.join(tag_list), ','.join(image_id_list))).json()
    return pred
"""

CURL_ADD = 'curl 127.0.0.1:5000/system/database/image/add?image_id=<unique_id> -X POST -F "data=@./your_img.jpg"'  # noqa: E501
CURL_ASSIGN = "curl 127.0.0.1:5000/custom/assign/<image_id>/<type>/<tag>"
CURL_TRAIN = "curl 127.0.0.1:5000/custom/train/<tag>"
CURL_STATUS = "curl 127.0.0.1:5000/status/<task_id>"
CURL_DELETE = "curl 127.0.0.1:5000/custom/delete/<tag>"
CURL_PREDICT_TAG = 'curl 127.0.0.1:5000/predict/custom/<tag> -X POST -F "data=@./your_img.jpg"'
CURL_PREDICT_CUSTOM = 'curl 127.0.0.1:5000/predict/custom -X POST -F "data=@./your_img.jpg"'
CURL_PREDICT = 'curl 127.0.0.1:5000/predict -X POST -F "data=@./your_img.jpg"'
CURL_PREDICT_ADDED = "curl 127.0.0.1:5000/custom/predict/<image_id>"
CURL_PREDICT_ADDED_TAG = "curl 127.0.0.1:5000/custom/predict/<tag>/<image_id>"
CURL_BATCH = (
    "curl 127.0.0.1:5000/custom/predict_batch?image_id=<list_of_image_ids>&tags=<list_of_tags>"
)
CURL_SET_STATE = 'curl 127.0.0.1:5000/set_state -X POST -F "data=@./state.tar"'


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class SeedServer(WSGIServer):
    # One request at a time: the test database is one in-memory SQLite shared with the
    # test thread. Concurrent clients simply queue.
    request_queue_size = 64


@pytest.fixture
def server_url(transactional_db, settings):
    settings.MUSES_API_OPEN = True
    server = make_server(
        "127.0.0.1", 0, WSGIHandler(), server_class=SeedServer, handler_class=QuietHandler
    )

    def serve():
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def snippet(text: str, url: str, **names) -> dict:
    """Run a snippet with the seed's host replaced; returns its namespace."""
    namespace = {"requests": requests, **names}
    exec(textwrap.dedent(text).replace(SEED_HOST, url), namespace)
    return namespace


def curl(line: str, url: str, cwd, **placeholders) -> dict:
    for name, value in placeholders.items():
        line = line.replace(f"<{name}>", value)
    args = shlex.split(line.replace("127.0.0.1:5000", url.removeprefix("http://")))
    if shutil.which("curl"):
        done = subprocess.run(args + ["-s"], cwd=cwd, capture_output=True, timeout=60, check=True)
        return json.loads(done.stdout)
    return _curl_with_requests(args, cwd)


def _curl_with_requests(args: list[str], cwd) -> dict:
    method = args[args.index("-X") + 1] if "-X" in args else "GET"
    files = None
    if "-F" in args:
        field, path = args[args.index("-F") + 1].split("=@", 1)
        files = {field: open(cwd / path, "rb")}
    return requests.request(method, "http://" + args[1], files=files, timeout=60).json()


def _line_starting(prefix: str, text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(prefix))


def write_images(folder, count: int, color, prefix: str) -> list[dict]:
    items = []
    for i in range(count):
        path = folder / f"{prefix}{i}.jpg"
        path.write_bytes(encode_image(size=(48, 48), color=shade(color, i)))
        items.append({"image_id": f"{prefix}{i}", "path": str(path)})
    return items


def test_the_seed_snippets_run_unchanged_against_a_live_server(server_url, tmp_path):
    url = server_url
    reds = write_images(tmp_path, 6, RED, "r")
    blues = write_images(tmp_path, 6, BLUE, "b")

    # Adding images: the Pool snippet, then the single add_sample and the curl line.
    pool_text = (
        POOL.replace(
            "from multiprocessing import Pool",
            "from multiprocessing.pool import ThreadPool as Pool",
        )
        .replace("Pool(50)", "Pool(4)")
        .replace(_line_starting("images = ", POOL), "images = seed_images")
    )
    assert "images = seed_images" in pool_text
    results = snippet(pool_text, url, seed_images=reds + blues[:5])["results"]
    assert [r["image_id"] for r in results] == [i["image_id"] for i in reds + blues[:5]]
    assert snippet(ADD_SAMPLE, url)["add_sample"](blues[5])["image_id"] == "b5"
    (tmp_path / "your_img.jpg").write_bytes(encode_image(size=(48, 48), color=RED))
    assert curl(CURL_ADD, url, tmp_path, unique_id="curl-1")["image_id"] == "curl-1"
    duplicate = snippet(ADD_SAMPLE, url)["add_sample"](reds[0])
    assert "already used" in duplicate["detail"]

    # Assigning.
    assign_image = snippet(ASSIGN, url)["assign_image"]
    for item in reds:
        assert assign_image("positive", "red", item["image_id"])["type"] == "positive"
    for item in blues:
        assign_image("negative", "red", item["image_id"])
    assert (
        curl(CURL_ASSIGN, url, tmp_path, image_id="curl-1", type="positive", tag="red")["positives"]
        == 7
    )

    # Training and status.
    task_id = curl(CURL_TRAIN, url, tmp_path, tag="red")["task_id"]
    status = curl(CURL_STATUS, url, tmp_path, task_id=task_id)
    assert status["state"] == "success" and status["version"] == 1
    assert "f1" in status["metrics"]

    # Predictions from uploads.
    red_image, blue_image = reds[1]["path"], blues[1]["path"]
    one = snippet(PREDICT_CUSTOM_TAG, url)["get_custom_predictions"]
    assert one(red_image, "red")["prediction"] is True
    assert one(blue_image, "red")["prediction"] is False
    every = snippet(PREDICT_CUSTOM_ALL, url)["get_custom_predictions"]
    assert every(red_image)["custom"]["red"]["prediction"] is True
    everything = snippet(PREDICT_ALL, url)["get_predictions"](red_image)
    assert everything["custom"]["red"]["prediction"] is True
    assert len(everything["imagenet_keywords"]) == 5
    assert curl(CURL_PREDICT_TAG, url, tmp_path, tag="red")["prediction"] is True
    assert "red" in curl(CURL_PREDICT_CUSTOM, url, tmp_path)["custom"]
    assert "imagenet_keywords" in curl(CURL_PREDICT, url, tmp_path)

    # Predictions on added images, one and in a batch.
    added = snippet(PREDICT_ADDED, url)["get_predictions_added"]
    assert added("r2")["custom"]["red"]["prediction"] is True
    assert added("b2", tag="red")["prediction"] is False
    assert curl(CURL_PREDICT_ADDED, url, tmp_path, image_id="r3")["custom"]["red"]["prediction"]
    assert curl(CURL_PREDICT_ADDED_TAG, url, tmp_path, tag="red", image_id="r3")["prediction"]
    with requests.Session() as session:
        batch = snippet(PREDICT_BATCH, url, session=session)["get_predictions_batch"]
        body = batch(["r0", "b0", "curl-1"], ["red"])
    assert [body["predictions"][i]["red"]["prediction"] for i in ("r0", "b0", "curl-1")] == [
        True,
        False,
        True,
    ]
    body = curl(CURL_BATCH, url, tmp_path, list_of_image_ids="r0,b0", list_of_tags="red")
    assert list(body["predictions"]) == ["r0", "b0"]

    # State: download, reset the tag, load the state back.
    (tmp_path / "state.tar").write_bytes(requests.get(f"{url}/get_state", timeout=30).content)
    assert curl(CURL_DELETE, url, tmp_path, tag="red")["versions_deleted"] == 1
    assert added("r2") == {"image_id": "r2", "custom": {}}
    loaded = curl(CURL_SET_STATE, url, tmp_path)
    assert loaded["tags"] == 1 and loaded["versions"] == 1 and loaded["assignments"] == 13
    assert added("r2")["custom"]["red"]["prediction"] is True
