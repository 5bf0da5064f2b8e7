"""The map of the collection in Chromium: time to draw the 2,129 Egyptian CC0 images, and
whether 100,000 points stay responsive (drawing while panning and zooming, a lasso).

    .venv/bin/python bench/map_browser.py [--var-dir /tmp/muses-curation] [--points 100000]

Lays the collection out first if it has no map yet (timed: the background job's work), then
serves the admin with ``manage.py runserver`` on a free 127.0.0.1 port and drives
/usr/bin/chromium with Playwright. Figures come from the page's own ``window.musesMap``
(performance.now() around fetching, parsing and drawing). The 100,000 points are synthetic
(clusters, ten classes), handed to the page's drawing code as the points endpoint's JSON.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from curation_common import DEFAULT_VAR_DIR, prepared_collection

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "map-bench-pw"
SYNTHETIC = """n => {
  let seed = 1; const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const names = ["statuary", "shabti", "vessel", "jewellery", "amulet", "relief", "coin",
    "sealing", "painting", "tool"];
  const data = {ids: [], pks: [], x: [], y: [], values: [], titles: [], urls: []};
  for (let i = 0; i < n; i++) {
    const c = i % 10, cx = 0.1 + 0.08 * c, cy = 0.2 + 0.06 * ((c * 7) % 10);
    data.ids.push("p" + i); data.pks.push(i + 1);
    data.x.push(Math.min(1, Math.max(0, cx + (random() - 0.5) * 0.15)));
    data.y.push(Math.min(1, Math.max(0, cy + (random() - 0.5) * 0.15)));
    data.values.push(names[c]); data.titles.push("synthetic " + i); data.urls.push("");
  }
  return data;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_map_and_user() -> None:
    from django.contrib.auth import get_user_model

    from curation.models import MapPoint
    from curation.services.collection_map import map_layout_compute

    if not MapPoint.objects.exists():
        start = time.perf_counter()
        count = map_layout_compute()
        print(f"layout of {count} images (PCA + t-SNE): {time.perf_counter() - start:.1f} s")
    user, _ = get_user_model().objects.get_or_create(username="map-bench")
    user.is_staff = user.is_superuser = True
    user.set_password(PASSWORD)
    user.save()


def serve(var_dir: str, port: int) -> subprocess.Popen:
    # Debug mode: runserver then serves the admin's static files, as the product's pages have.
    env = {**os.environ, "MUSES_VAR_DIR": var_dir, "MUSES_DEBUG": "1"}
    command = [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*command, "--noreload"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(600):  # the server imports Django and its apps first: slow on a busy machine
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


# Canvas drawing is recorded, then rasterised later: reading a pixel back forces the
# rasterisation into the timed frame, so the figure is the whole cost of the frame.
PAN_AND_ZOOM = """frames => {
  const map = window.musesMap, context = document.getElementById("muses-map").getContext("2d");
  const times = [];
  for (let k = 0; k < frames; k++) {
    const start = performance.now();
    map.drawAt(1 + 0.1 * k, -6 * k, -4 * k);  // zooming in while panning
    context.getImageData(0, 0, 1, 1);
    times.push(performance.now() - start);
  }
  return times;
}"""
FIRST_DRAW = """json => {
  const start = performance.now();
  window.musesMap.setData(json);
  document.getElementById("muses-map").getContext("2d").getImageData(0, 0, 1, 1);
  return performance.now() - start;
}"""
LASSO = """() => {
  const box = document.getElementById("muses-map").getBoundingClientRect();
  const w = box.width, h = box.height;
  window.musesMap.drawAt(1, 0, 0);
  const polygon = [];  // a 64-vertex ellipse over the middle of the map
  for (let k = 0; k < 64; k++) {
    const a = 2 * Math.PI * k / 64;
    polygon.push([w / 2 + 0.3 * w * Math.cos(a), h / 2 + 0.3 * h * Math.sin(a)]);
  }
  const selected = window.musesMap.selectPolygon(polygon);
  return [selected, window.musesMap.selectMs];
}"""


def pan_and_zoom(page, frames: int = 30) -> list[float]:
    """Draw times (ms) of `frames` frames while zooming in and panning, measured by the page."""
    return page.evaluate(PAN_AND_ZOOM, frames)


def lasso(page) -> tuple[int, float]:
    """(points selected, ms) of a lasso over the middle of the map."""
    return tuple(page.evaluate(LASSO))


def report(label: str, draws: list[float]) -> None:
    median = statistics.median(draws)
    worst = max(draws)
    print(
        f"{label}: draw per frame median {median:.1f} ms, worst {worst:.1f} ms "
        f"({len(draws)} frames)"
    )


def measure(base: str, points: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", "map-bench")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        for run in range(3):
            start = time.perf_counter()
            page.goto(f"{base}/admin/curation/map/")
            page.wait_for_function("window.musesMap && window.musesMap.ready", timeout=60_000)
            wall = (time.perf_counter() - start) * 1000
            stats = page.evaluate(
                "[window.musesMap.points, window.musesMap.loadMs, window.musesMap.firstDrawMs]"
            )
            print(
                f"collection map, run {run + 1}: {stats[0]} points; points fetched, parsed and "
                f"drawn {stats[1]:.0f} ms after the page's script started (first draw "
                f"{stats[2]:.1f} ms); navigation to drawn {wall:.0f} ms (target < 1000 ms)"
            )
        report("collection map, pan and zoom", pan_and_zoom(page))
        page.evaluate(f"n => {{ window.benchPoints = ({SYNTHETIC})(n); }}", points)
        first = page.evaluate(f"() => ({FIRST_DRAW})(window.benchPoints)")
        print(f"{points} synthetic points: handed to the page and first drawn in {first:.0f} ms")
        report(f"{points} points, pan and zoom", pan_and_zoom(page))
        selected, took = lasso(page)
        print(f"{points} points, a 64-vertex lasso selecting {selected}: {took:.0f} ms")
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", default=str(DEFAULT_VAR_DIR), help="Private state folder.")
    parser.add_argument("--points", type=int, default=100_000, help="Synthetic points.")
    args = parser.parse_args()
    prepared_collection(args.var_dir)
    ensure_map_and_user()
    port = free_port()
    server = serve(args.var_dir, port)
    try:
        measure(f"http://127.0.0.1:{port}", args.points)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
