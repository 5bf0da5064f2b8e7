"""The JSON shapes IIIF Presentation 2.1 and 3.0 share: ids, versions, kinds, and lists
that may be a single value; and the error of a document that is not usable."""


class IIIFError(ValueError):
    """A document that is not a usable IIIF manifest or collection."""


def doc_id(doc: dict) -> str:
    return str(doc.get("id") or doc.get("@id") or "")


def doc_version(doc: dict) -> int:
    """3 or 2, from the @context or, failing that, the spelling of the keys."""
    context = doc.get("@context") or ""
    contexts = " ".join(context if isinstance(context, list) else [str(context)])
    if "presentation/3" in contexts:
        return 3
    if "presentation/2" in contexts:
        return 2
    return 2 if "@id" in doc or "@type" in doc else 3


def doc_kind(doc: dict) -> str:
    """'Manifest', 'Collection' or '' for anything else."""
    kind = str(doc.get("type") or doc.get("@type") or "")
    kind = kind.split(":")[-1]  # sc:Manifest -> Manifest
    return kind if kind in ("Manifest", "Collection") else ""


def kind_of(doc: dict) -> str:
    return str(doc.get("type") or doc.get("@type") or "")


def int_of(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def dicts(values) -> list[dict]:
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
