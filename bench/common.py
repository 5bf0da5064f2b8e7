"""What the bench scripts share: paths, ports, PostgreSQL databases, manage.py runs, the CPU
time of processes (from /proc), sample uploads and Django set-up. No bench script imports
another; they all import this."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample" / "egyptian-cc0" / "images"
SAMPLE_CSV = ROOT / "sample" / "egyptian-cc0" / "collection.csv"
SHARED_DATA = ROOT.parent / "shared" / "data"
EGYPTIAN_CSV = SHARED_DATA / "egyptian-cc0" / "collection.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def postgres_database_fresh(name: str) -> str:
    """Drop and create the database; its URL."""
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def server_env(database: str, db_name: str = "muses_bench_load") -> dict:
    """The environment of a MUSES process on a private state folder (and, for postgres, a
    fresh database), with the weights shared by every run on this machine."""
    env = {
        **os.environ,
        "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-bench-"),
        "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights"),
        "MUSES_API_OPEN": "1",
        "MUSES_LOG_LEVEL": "WARNING",
    }
    if database == "postgres":
        env["DATABASE_URL"] = postgres_database_fresh(db_name)
    return env


def manage(env: dict, *args: str) -> str:
    """Run manage.py; the last line it printed (a ``shell -c`` snippet's answer)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def process_cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of one process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def sample_images(n: int = 64) -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLE.glob("*.jpg"))[:n]]


def multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart body with the file as the seed's ``data`` field, and its content type."""
    boundary = "muses-bench-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def django_setup(settings_module: str = "muses.settings") -> None:
    """Start Django in this process (the environment already set by the caller)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import django

    django.setup()


def checkout_at(ref: str) -> Path:
    """The project's files at git ref `ref`, unpacked into a temporary folder that shares this
    checkout's .venv: the "before" side of a before/after run."""
    folder = Path(tempfile.mkdtemp(prefix="muses-bench-before-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    (folder / ".venv").symlink_to((ROOT / ".venv").resolve())
    return folder
