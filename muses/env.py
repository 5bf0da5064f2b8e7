"""Tiny helpers that read settings from the environment and fail loudly on bad values."""

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

STORAGE_KINDS = ("local", "s3")
S3_BACKEND = "storages.backends.s3.S3Storage"
# MUSES_STORAGE=s3 passes these on to S3Storage when they are set.
S3_OPTIONAL = {
    "AWS_S3_ENDPOINT_URL": "endpoint_url",
    "AWS_S3_REGION_NAME": "region_name",
    "AWS_S3_ADDRESSING_STYLE": "addressing_style",
    "AWS_S3_CUSTOM_DOMAIN": "custom_domain",
    "AWS_LOCATION": "location",
}

DB_ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
}


# The embedded database takes concurrent writers (web threads, the queue worker): WAL lets
# readers run beside the one writer; IMMEDIATE takes the write lock when a transaction
# begins, so two transactions that read and then write wait their turn (busy timeout)
# instead of one failing at once with "database is locked" when it upgrades its lock.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,  # seconds a writer waits for the lock (sqlite3 busy timeout)
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def env_str(name: str, default: str) -> str:
    return os.getenv(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.getenv(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.getenv(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.getenv(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.getenv(name, default).strip().lower() or default
    if raw not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not one of: {', '.join(choices)}")
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.getenv(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.getenv(name)
    return Path(raw).expanduser().resolve() if raw else Path(default)


def parse_database_url(url: str) -> dict:
    """``postgres://user:pw@host:5432/name`` or ``sqlite:///path`` as DATABASES["default"]."""
    parts = urlsplit(url)
    engine = DB_ENGINES.get(parts.scheme)
    if engine is None:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {parts.scheme!r} is not supported (use sqlite or postgres)"
        )
    if parts.scheme == "sqlite":
        name = unquote(parts.path[1:] if parts.path.startswith("//") else parts.path)
        if not name:
            raise ImproperlyConfigured("DATABASE_URL for sqlite needs a path: sqlite:////abs/path")
        return {"ENGINE": engine, "NAME": name, "OPTIONS": dict(SQLITE_OPTIONS)}
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL has no database name")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"DATABASE_URL has a bad port: {url!r}") from None
    return {
        "ENGINE": engine,
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


def read_or_create_secret_key(path: Path, *, allowed: bool) -> str:
    """A per-checkout key for local use; production must pass SECRET_KEY."""
    if not allowed:
        raise ImproperlyConfigured("SECRET_KEY must be set when MUSES_LOCAL=0")
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


def storages_from_env() -> dict:
    """Django's STORAGES: media under MEDIA_ROOT, or in an S3-compatible bucket with
    MUSES_STORAGE=s3; static files stay local either way."""
    raw = env_str("MUSES_STORAGE", "local")
    kind = raw.strip().lower() or "local"
    if kind not in STORAGE_KINDS:
        raise ImproperlyConfigured(f"MUSES_STORAGE={raw!r} is not a storage (use local or s3)")
    media = (
        {"BACKEND": S3_BACKEND, "OPTIONS": s3_options()}
        if kind == "s3"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    )
    return {
        "default": media,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def s3_options() -> dict:
    """S3Storage's options. Credentials are left to boto3's own chain (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role), so none is copied into settings."""
    bucket = env_str("AWS_STORAGE_BUCKET_NAME", "").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "MUSES_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket that holds the media)"
        )
    options = {
        "bucket_name": bucket,
        # Keys are content-addressed: an existing key holds the same bytes, never rename.
        "file_overwrite": True,
        "default_acl": None,  # private objects; the bucket's policy decides
        "querystring_auth": env_bool("AWS_QUERYSTRING_AUTH", True),
    }
    for name, option in S3_OPTIONAL.items():
        value = env_str(name, "").strip()
        if value:
            options[option] = value
    endpoint = options.get("endpoint_url", "")
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL={endpoint!r} is not an http(s) URL, e.g. http://minio:9000"
        )
    return options
