"""Mirador's built bundle for the browser tests: `npm pack mirador@MIRADOR_VERSION` once,
into var/cache/mirador/ (ignored by git, never committed), checked against its digest."""

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

MIRADOR_VERSION = "4.0.0"
BUNDLE_SHA256 = "86109137e947117095f44b800c69b27c0e0ac5ef41e0a354839f33e761cec0e3"
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "mirador" / MIRADOR_VERSION
BUNDLE_MEMBER = "package/dist/mirador.min.js"


def mirador_bundle() -> tuple[Path | None, str]:
    """(the bundle, '') or (None, why it could not be had)."""
    bundle = CACHE / "mirador.min.js"
    if not bundle.exists():
        reason = _fetch(bundle)
        if reason:
            return None, reason
    if hashlib.sha256(bundle.read_bytes()).hexdigest() != BUNDLE_SHA256:
        bundle.unlink()
        return None, f"{bundle} does not match the digest of mirador {MIRADOR_VERSION}"
    return bundle, ""


def _fetch(bundle: Path) -> str:
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed (needed once to fetch Mirador's bundle)"
    with tempfile.TemporaryDirectory() as folder:
        try:
            subprocess.run(
                [npm, "pack", f"mirador@{MIRADOR_VERSION}", "--pack-destination", folder],
                check=True,
                capture_output=True,
                timeout=180,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            return f"npm pack mirador@{MIRADOR_VERSION} failed ({exc})"
        (tarball,) = Path(folder).glob("mirador-*.tgz")
        with tarfile.open(tarball) as archive:
            source = archive.extractfile(BUNDLE_MEMBER)
            if source is None:
                return f"{tarball.name} has no {BUNDLE_MEMBER}"
            bundle.parent.mkdir(parents=True, exist_ok=True)
            bundle.write_bytes(source.read())
    return ""
