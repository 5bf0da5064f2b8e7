"""A small IIIF Image + Presentation server on 127.0.0.1 for the import tests.

The Image API part serves real image files: ``/iiif/<version>/<identifier>/info.json`` and
``/iiif/<version>/<identifier>/<region>/<size>/<rotation>/default.jpg``: the region cut
(``full``, ``x,y,w,h``, ``pct:x,y,w,h``, ``square``), scaled as the size asks (``max``,
``full``, ``w,``, ``w,h``, ``!w,h``), mirrored and turned clockwise. An image added at
level 0 answers only the whole image at ``max``/``full`` or a size its info.json lists,
as such servers do. Documents (manifests, collections) and misbehaving routes are
added per test. Manifests are written in the shapes of the Presentation API 2.1 and 3.0
specifications.
"""

import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import unquote

from django.core.management import call_command
from PIL import Image as PILImage
from PIL import ImageOps

IMAGE_PATH = re.compile(r"^/iiif/(\d)/([^/]+)/([^/]+)/([^/]+)/(!?[\d.]+)/(default|native)\.jpg$")
INFO_PATH = re.compile(r"^/iiif/(\d)/([^/]+)/info\.json$")


@dataclass
class Route:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    stall: float = 0.0  # seconds to wait before answering
    fail_times: int = 0  # answer 503 this many times first
    location: str = ""  # a redirect target
    trickle: float = 0.0  # seconds between single bytes of the body (a slow-loris server)
    trickle_for: float = 5.0  # then the connection is dropped, the body unfinished


@dataclass
class IIIFServer:
    base: str = ""
    images: dict[str, Path] = field(default_factory=dict)  # identifier -> file
    declared_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (Host header, path)
    released: threading.Event = field(default_factory=threading.Event)
    latency: float = 0.0  # seconds before every answer, as a remote server takes
    rendered: dict[tuple[str, ...], bytes] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)  # identifier -> compliance level

    # --- what tests add -----------------------------------------------------------

    def add_image(
        self,
        identifier: str,
        path: Path,
        declared: tuple[int, int] | None = None,
        level: int = 1,
    ):
        self.images[identifier] = path
        self.levels[identifier] = level
        if declared:
            self.declared_sizes[identifier] = declared

    def add_json(self, path: str, document) -> str:
        self.routes[path] = Route(body=json.dumps(document).encode())
        return self.base + path

    def add_route(self, path: str, **route) -> str:
        self.routes[path] = Route(**route)
        return self.base + path

    def service(self, version: int, identifier: str) -> str:
        return f"{self.base}/iiif/{version}/{identifier}"

    def paths(self, prefix: str = "") -> list[str]:
        return [path for _, path in self.requests if path.startswith(prefix)]

    def image_requests(self) -> list[str]:
        return [path for _, path in self.requests if path.endswith(".jpg")]

    # --- answering ----------------------------------------------------------------

    def answer(self, path: str) -> Route:
        route = self.routes.get(path)
        if route is not None:
            if route.fail_times > 0:
                route.fail_times -= 1
                return Route(status=503, content_type="text/plain", body=b"busy")
            return route
        if match := INFO_PATH.match(path):
            return self._info(int(match[1]), match[2])
        if match := IMAGE_PATH.match(path):
            return self._image(match[2], match[3], match[4], match[5])
        return Route(status=404, content_type="text/plain", body=b"not found")

    def _info(self, version: int, identifier: str) -> Route:
        if identifier not in self.images:
            return Route(status=404, content_type="text/plain", body=b"no such image")
        width, height = self.declared_sizes.get(identifier) or _size(self.images[identifier])
        service_id = self.service(version, identifier)
        if version == 3:
            info = {
                "@context": "http://iiif.io/api/image/3/context.json",
                "id": service_id,
                "type": "ImageService3",
                "protocol": "http://iiif.io/api/image",
                "profile": f"level{self.levels.get(identifier, 1)}",
                "width": width,
                "height": height,
                **self._sizes(identifier, width, height),
            }
        else:
            info = {
                "@context": "http://iiif.io/api/image/2/context.json",
                "@id": service_id,
                "protocol": "http://iiif.io/api/image",
                "profile": [
                    f"http://iiif.io/api/image/2/level{self.levels.get(identifier, 1)}.json"
                ],
                "width": width,
                "height": height,
                **self._sizes(identifier, width, height),
            }
        return Route(body=json.dumps(info).encode(), content_type="application/ld+json")

    def _sizes(self, identifier: str, width: int, height: int) -> dict:
        """A level 0 server lists the sizes it has: the full one and a half."""
        if self.levels.get(identifier) != 0:
            return {}
        return {"sizes": [{"width": width // 2, "height": height // 2}]}

    def _image(self, identifier: str, region: str, size: str, rotation: str) -> Route:
        if identifier not in self.images:
            return Route(status=404, content_type="text/plain", body=b"no such image")
        if self.levels.get(identifier) == 0 and not self._level0_serves(region, size, rotation):
            return Route(status=400, content_type="text/plain", body=b"level 0: not supported")
        key = (identifier, region, size, rotation)
        if key not in self.rendered:
            self.rendered[key] = _render(self.images[identifier], region, size, rotation)
        return Route(content_type="image/jpeg", body=self.rendered[key])

    def _level0_serves(self, region: str, size: str, rotation: str) -> bool:
        return region == "full" and rotation == "0" and (size in ("max", "full") or "," in size)


def _render(path: Path, region: str, size: str, rotation: str) -> bytes:
    image = PILImage.open(path).convert("RGB")
    image = image.crop(_region_box(region, image.size))
    image.thumbnail(_target(size, image.size))  # never larger than the region
    if rotation.startswith("!"):
        image = ImageOps.mirror(image)
    degrees = float(rotation.removeprefix("!")) % 360
    if degrees:
        image = image.rotate(-degrees, expand=True, fillcolor=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _region_box(region: str, full: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = full
    if region == "full":
        return 0, 0, width, height
    if region == "square":
        side = min(full)
        return (width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2
    if region.startswith("pct:"):
        x, y, w, h = (float(v) / 100 for v in region[4:].split(","))
        return round(x * width), round(y * height), round((x + w) * width), round((y + h) * height)
    x, y, w, h = (int(float(v)) for v in region.split(","))
    return x, y, min(width, x + w), min(height, y + h)


def _size(path: Path) -> tuple[int, int]:
    with PILImage.open(path) as image:
        return image.size


def _target(size: str, full: tuple[int, int]) -> tuple[int, int]:
    if size in ("max", "full"):
        return full
    if size.startswith("!"):
        width, height = size[1:].split(",")
        return int(width), int(height)
    width, height = size.split(",")
    return int(width or full[0] * 100), int(height or full[1] * 100)


class _Handler(BaseHTTPRequestHandler):
    server_state: IIIFServer

    def do_GET(self):  # noqa: N802 (http.server's name)
        state = self.server.state
        state.requests.append((self.headers.get("Host", ""), unquote(self.path)))
        if state.latency:
            time.sleep(state.latency)
        route = state.answer(unquote(self.path))
        if route.stall and state.released.wait(route.stall):
            return  # the test is over: drop the connection
        self.send_response(route.status)
        if route.location:
            self.send_header("Location", route.location)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Access-Control-Allow-Origin", "*")  # as IIIF servers do, for viewers
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.trickle:
            self._trickle(route, state)
            return
        self.wfile.write(route.body)

    def do_OPTIONS(self):  # noqa: N802 (a viewer's CORS preflight, as IIIF servers answer it)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.end_headers()

    def _trickle(self, route: Route, state: IIIFServer) -> None:
        stop = time.monotonic() + route.trickle_for
        for byte in route.body:
            if time.monotonic() > stop or state.released.wait(route.trickle):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client gave up

    def log_message(self, *args):  # quiet
        pass


def start_server() -> tuple[IIIFServer, ThreadingHTTPServer, threading.Thread]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = IIIFServer(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="iiif-test-server")
    thread.start()
    return state, httpd, thread


def stop_server(state: IIIFServer, httpd: ThreadingHTTPServer, thread: threading.Thread):
    state.released.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# --- documents in the specifications' shapes -------------------------------------------


def manifest_v3(
    server: IIIFServer, name: str, canvases: list[dict], metadata: list | None = None, **extra
) -> dict:
    """A Presentation 3.0 manifest; each canvas dict gives an image 'identifier' (served
    through an ImageService3), a 'url' (the body's own URL, no service) or a whole painting
    'body'; its other keys (label, metadata, ...) are the canvas's own."""
    manifest_id = f"{server.base}/manifests/{name}.json"
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": manifest_id,
        "type": "Manifest",
        "label": extra.pop("label", {"en": [f"Object {name}"]}),
        "metadata": metadata or [],
        **extra,
        "items": [_canvas_v3(server, manifest_id, n, c) for n, c in enumerate(canvases, 1)],
    }


def _canvas_v3(server: IIIFServer, manifest_id: str, n: int, canvas: dict) -> dict:
    canvas_id = canvas.get("id") or f"{manifest_id.removesuffix('.json')}/canvas/p{n}"
    body = {"type": "Image", "format": "image/jpeg", "width": 224, "height": 224}
    if "body" in canvas:
        body = canvas["body"]
    elif "identifier" in canvas:
        body["id"] = image_v3(server, canvas["identifier"])["id"]
        body["service"] = image_v3(server, canvas["identifier"])["service"]
    else:
        body["id"] = canvas["url"]
    own = {k: v for k, v in canvas.items() if k not in ("id", "identifier", "url", "body")}
    return {
        "id": canvas_id,
        "type": "Canvas",
        "label": {"none": [f"p. {n}"]},
        "width": 224,
        "height": 224,
        **own,
        "items": [
            {
                "id": f"{canvas_id}/page/1",
                "type": "AnnotationPage",
                "items": [
                    {
                        "id": f"{canvas_id}/annotation/1",
                        "type": "Annotation",
                        "motivation": "painting",
                        "body": body,
                        "target": canvas_id,
                    }
                ],
            }
        ],
    }


def image_v3(server: IIIFServer, identifier: str, **declared) -> dict:
    """An Image resource with its ImageService3, as a 3.0 painting body or a source."""
    service = server.service(3, identifier)
    return {
        "id": f"{service}/full/max/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
        **declared,
        "service": [{"id": service, "type": "ImageService3", "profile": "level1"}],
    }


def manifest_v2(
    server: IIIFServer, name: str, canvases: list[dict], metadata: list | None = None, **extra
) -> dict:
    """A Presentation 2.1 manifest: sequences[0].canvases[].images[].resource, with an
    Image API 2 service for canvases that give an 'identifier'."""
    manifest_id = f"{server.base}/manifests/{name}.json"
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": manifest_id,
        "@type": "sc:Manifest",
        "label": extra.pop("label", f"Object {name}"),
        "metadata": metadata or [],
        **extra,
        "sequences": [
            {
                "@id": f"{manifest_id}/sequence/normal",
                "@type": "sc:Sequence",
                "canvases": [
                    _canvas_v2(server, manifest_id, n, c) for n, c in enumerate(canvases, 1)
                ],
            }
        ],
    }


def _canvas_v2(server: IIIFServer, manifest_id: str, n: int, canvas: dict) -> dict:
    canvas_id = f"{manifest_id.removesuffix('.json')}/canvas/p{n}"
    own = {k: v for k, v in canvas.items() if k not in ("identifier", "url", "resource")}
    resource = {"@type": "dctypes:Image", "format": "image/jpeg", "width": 224, "height": 224}
    if "identifier" in canvas:
        service = server.service(2, canvas["identifier"])
        resource["@id"] = f"{service}/full/full/0/default.jpg"
        resource["service"] = {
            "@context": "http://iiif.io/api/image/2/context.json",
            "@id": service,
            "profile": "http://iiif.io/api/image/2/level1.json",
        }
    elif "url" in canvas:
        resource["@id"] = canvas["url"]
    return {
        "@id": canvas_id,
        "@type": "sc:Canvas",
        "label": f"p. {n}",
        "width": 224,
        "height": 224,
        **own,
        "images": [
            {
                "@type": "oa:Annotation",
                "motivation": "sc:painting",
                "resource": canvas.get("resource", resource),
                "on": canvas_id,
            }
        ],
    }


def collection_v3(server: IIIFServer, name: str, members: list[tuple[str, str]]) -> dict:
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{server.base}/collections/{name}.json",
        "type": "Collection",
        "label": {"en": [f"Collection {name}"]},
        "items": [{"id": url, "type": kind, "label": {"en": [url]}} for kind, url in members],
    }


def collection_v2(server: IIIFServer, name: str, manifests: list[str], collections=()) -> dict:
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": f"{server.base}/collections/{name}.json",
        "@type": "sc:Collection",
        "label": f"Collection {name}",
        "collections": [{"@id": url, "@type": "sc:Collection"} for url in collections],
        "manifests": [{"@id": url, "@type": "sc:Manifest", "label": url} for url in manifests],
    }


def run_import(source, *args) -> tuple[str, str]:
    """`muses_import --importer iiif --no-features SOURCE`: (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command(
        "muses_import", str(source), "--importer", "iiif", "--no-features", *args,
        stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()
