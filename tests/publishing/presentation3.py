"""An offline check of the IIIF Presentation 3.0 rules a Manifest MUSES writes must keep:
required properties, types, ids (http(s) URIs, unique), language maps, painting annotations
that target their canvas, annotation pages with annotations. Returns the problems found."""

from urllib.parse import urlsplit

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
IMAGE_SERVICE_TYPES = {"ImageService1", "ImageService2", "ImageService3"}


def manifest_problems(manifest: dict) -> list[str]:
    problems: list[str] = []
    ids: set[str] = set()
    context = manifest.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if contexts[-1:] != [PRESENTATION_CONTEXT]:
        problems.append("@context must end with the Presentation 3 context")
    _resource(manifest, "Manifest", "manifest", problems, ids)
    _language_map(manifest.get("label"), "manifest label", problems, required=True)
    for entry in manifest.get("metadata", []):
        _metadata_entry(entry, "manifest metadata", problems)
    canvases = manifest.get("items")
    if not isinstance(canvases, list) or not canvases:
        problems.append("a Manifest must have at least one canvas in items")
        return problems
    for n, canvas in enumerate(canvases):
        _canvas(canvas, f"canvas {n}", problems, ids)
    return problems


def _canvas(canvas: dict, where: str, problems: list[str], ids: set[str]) -> None:
    _resource(canvas, "Canvas", where, problems, ids)
    for dimension in ("width", "height"):
        value = canvas.get(dimension)
        if not isinstance(value, int) or value <= 0:
            problems.append(f"{where}: {dimension} must be a positive integer")
    if "label" in canvas:
        _language_map(canvas["label"], f"{where} label", problems)
    for entry in canvas.get("metadata", []):
        _metadata_entry(entry, f"{where} metadata", problems)
    pages = canvas.get("items")
    if not isinstance(pages, list) or not pages:
        problems.append(f"{where}: items must list its painting AnnotationPage")
        return
    for page in pages:
        for annotation in _page(page, f"{where} painting page", problems, ids):
            if annotation.get("motivation") != "painting":
                problems.append(f"{where}: a painting page holds painting annotations only")
            if _target_id(annotation.get("target")) != canvas.get("id"):
                problems.append(f"{where}: a painting annotation must target its canvas")
            _image_body(annotation.get("body"), where, problems)
    for page in canvas.get("annotations", []):
        for annotation in _page(page, f"{where} annotations", problems, ids):
            if not str(_target_id(annotation.get("target"))).startswith(canvas.get("id", "")):
                problems.append(f"{where}: an annotation must target its canvas")
            if not annotation.get("motivation") or "body" not in annotation:
                problems.append(f"{where}: an annotation needs a motivation and a body")


def _page(page: dict, where: str, problems: list[str], ids: set[str]) -> list[dict]:
    _resource(page, "AnnotationPage", where, problems, ids)
    annotations = page.get("items")
    if not isinstance(annotations, list):
        problems.append(f"{where}: items must be a list of annotations")
        return []
    for annotation in annotations:
        _resource(annotation, "Annotation", f"{where} annotation", problems, ids)
    return annotations


def _image_body(body, where: str, problems: list[str]) -> None:
    if not isinstance(body, dict) or body.get("type") != "Image":
        problems.append(f"{where}: the painted body must be an Image")
        return
    if not _is_uri(body.get("id")):
        problems.append(f"{where}: the image's id must be an http(s) URI")
    for service in body.get("service", []):
        if service.get("type") not in IMAGE_SERVICE_TYPES:
            problems.append(f"{where}: a service needs an ImageService type")
        if not _is_uri(service.get("id") or service.get("@id")):
            problems.append(f"{where}: a service needs an id (or @id for ImageService2)")


def _resource(doc, kind: str, where: str, problems: list[str], ids: set[str]) -> None:
    if not isinstance(doc, dict):
        problems.append(f"{where}: not a JSON object")
        return
    if doc.get("type") != kind:
        problems.append(f"{where}: type must be {kind}, not {doc.get('type')!r}")
    identifier = doc.get("id")
    if not _is_uri(identifier):
        problems.append(f"{where}: id must be an http(s) URI, not {identifier!r}")
    elif identifier in ids:
        problems.append(f"{where}: the id {identifier} is used twice")
    else:
        ids.add(identifier)


def _language_map(value, where: str, problems: list[str], required: bool = False) -> None:
    if value is None and not required:
        return
    valid = (
        isinstance(value, dict)
        and value
        and all(
            isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)
            for texts in value.values()
        )
    )
    if not valid:
        problems.append(f"{where}: must be a language map of lists of strings")


def _metadata_entry(entry, where: str, problems: list[str]) -> None:
    if not isinstance(entry, dict) or set(entry) != {"label", "value"}:
        problems.append(f"{where}: each entry has a label and a value, nothing else")
        return
    _language_map(entry["label"], f"{where} label", problems, required=True)
    _language_map(entry["value"], f"{where} value", problems, required=True)


def _target_id(target) -> str:
    return target.get("id", "") if isinstance(target, dict) else str(target or "")


def _is_uri(value) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https")
