"""MUSES settings: one file, every knob read from the environment.

Defaults are the embedded profile (SQLite, django-q2's ORM broker, files under
``var/``); production sets ``DATABASE_URL``, ``REDIS_URL`` and friends.
"""

from pathlib import Path

from muses.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
    parse_database_url,
    read_or_create_secret_key,
    storages_from_env,
)
from muses.tensorflow_logs import tensorflow_quiet

BASE_DIR = Path(__file__).resolve().parent.parent

MUSES_VAR_DIR = env_path("MUSES_VAR_DIR", BASE_DIR / "var")
MUSES_VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("MUSES_DEBUG", False)
if not DEBUG:
    tensorflow_quiet()  # before any app imports TensorFlow
SECRET_KEY = env_str("SECRET_KEY", "") or read_or_create_secret_key(
    MUSES_VAR_DIR / "secret_key", allowed=DEBUG or env_bool("MUSES_LOCAL", True)
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "muses.collection",
    "muses.vision",
    "muses.jobs",
    "naive_classification",
    "custom_tagging",
    "publishing",
    "curation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "muses.middleware.RejectNulBytesMiddleware",
    "muses.middleware.RejectNonUtf8PathsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "muses.urls"
WSGI_APPLICATION = "muses.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", f"sqlite:///{MUSES_VAR_DIR / 'muses.sqlite3'}")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", MUSES_VAR_DIR / "static")
# WhiteNoise serves the apps' static files as found (no collectstatic step for `make demo`)
# and STATIC_ROOT when collectstatic has filled it.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start-up without it
MEDIA_URL = "media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", MUSES_VAR_DIR / "media")
# MUSES_STORAGE=s3 puts media in an S3-compatible bucket (AWS_STORAGE_BUCKET_NAME, ...).
STORAGES = storages_from_env()
# Set (e.g. /protected-media/) when nginx serves MEDIA_ROOT from an `internal` location:
# Django checks the token, nginx sends the file (X-Accel-Redirect).
MUSES_MEDIA_ACCEL_REDIRECT = env_str("MUSES_MEDIA_ACCEL_REDIRECT", "")

# Uploads larger than this are refused before decoding (bytes).
MUSES_MAX_UPLOAD_BYTES = env_int("MUSES_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MUSES_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MUSES_MAX_UPLOAD_BYTES + 1024 * 1024
# Decoded images larger than this many pixels are refused (decompression bombs).
MUSES_MAX_IMAGE_PIXELS = env_int("MUSES_MAX_IMAGE_PIXELS", 64_000_000)

# IIIF import (`muses_import --importer iiif`): the only outgoing requests, to the hosts a
# manifest names. Seconds per request, attempts per URL, first back-off (doubled per retry),
# downloads at once, manifests read from one collection tree.
MUSES_IIIF_TIMEOUT = env_float("MUSES_IIIF_TIMEOUT", 30.0)
MUSES_IIIF_RETRIES = env_int("MUSES_IIIF_RETRIES", 3)
MUSES_IIIF_BACKOFF = env_float("MUSES_IIIF_BACKOFF", 1.0)
MUSES_IIIF_WORKERS = env_int("MUSES_IIIF_WORKERS", 4)
MUSES_IIIF_MAX_MANIFESTS = env_int("MUSES_IIIF_MAX_MANIFESTS", 10_000)
# Private, loopback and link-local addresses are refused unless allowed (a museum's own
# intranet server): a manifest must not make MUSES probe the machine's own network.
MUSES_IIIF_ALLOW_PRIVATE = env_bool("MUSES_IIIF_ALLOW_PRIVATE", False)

# --- machine learning -------------------------------------------------------
MUSES_DATASET_DIR = env_path("MUSES_DATASET_DIR", MUSES_VAR_DIR / "dataset")
MUSES_MODEL_DIR = env_path("MUSES_MODEL_DIR", BASE_DIR / "naive_classification" / "models")
MUSES_PLOT_DIR = env_path("MUSES_PLOT_DIR", BASE_DIR / "naive_classification" / "plots")
MUSES_WEIGHTS_DIR = env_path("MUSES_WEIGHTS_DIR", MUSES_VAR_DIR / "weights")
MUSES_BACKBONE = env_str("MUSES_BACKBONE", "efficientnet_lite0")
# Seconds to wait for Keras' own VGG19 download before giving up (no network here).
MUSES_DOWNLOAD_TIMEOUT = env_float("MUSES_DOWNLOAD_TIMEOUT", 5.0)
# The whole VGG19 weights download, wall clock (seconds).
MUSES_DOWNLOAD_DEADLINE = env_float("MUSES_DOWNLOAD_DEADLINE", 600.0)
# Dynamic batching of concurrent web requests into one forward pass.
MUSES_BATCH_MAX = env_int("MUSES_BATCH_MAX", 32)
MUSES_BATCH_WAIT_MS = env_float("MUSES_BATCH_WAIT_MS", 5.0)
# Forward passes a process runs at once (web batches and bulk extraction). One pass of a
# small network leaves cores idle between its ops; two overlapping passes keep them busy.
MUSES_NETWORK_STREAMS = env_int("MUSES_NETWORK_STREAMS", 2)
# /custom/predict_batch computes at most this many missing features in the request.
MUSES_BATCH_COMPUTE_MAX = env_int("MUSES_BATCH_COMPUTE_MAX", 64)
# The engine that runs the backbones (muses/vision/inference.py): auto = the one measured
# faster in the precision (TensorFlow in fp32, OpenVINO in an adopted reduced precision
# when it compiles); the precision: auto = the fastest one
# the CPU has among those the quality benches adopted (fp32: bf16 and int8 did not keep
# quality).
MUSES_INFERENCE = env_choice("MUSES_INFERENCE", "auto", ("auto", "openvino", "tensorflow"))
MUSES_PRECISION = env_choice("MUSES_PRECISION", "auto", ("auto", "fp32", "bf16", "int8"))
# INT8 (OpenVINO + nncf) is calibrated once on the first this-many images (by name) of this
# folder: by default the collection sample the repository ships.
MUSES_CALIBRATION_DIR = env_path(
    "MUSES_CALIBRATION_DIR", BASE_DIR / "sample" / "egyptian-cc0" / "images"
)
MUSES_CALIBRATION_IMAGES = env_int("MUSES_CALIBRATION_IMAGES", 300)
# Threads OpenVINO gives the network; 0 = every core.
MUSES_INFERENCE_THREADS = env_int("MUSES_INFERENCE_THREADS", 0)
# OpenVINO streams: batches it runs side by side, each on its share of those threads.
MUSES_INFERENCE_STREAMS = env_int("MUSES_INFERENCE_STREAMS", 1)
MUSES_STATE_MAX_BYTES = env_int("MUSES_STATE_MAX_BYTES", 512 * 1024 * 1024)
# The per-machine feature index every process maps (a local disk: flock and mmap).
MUSES_INDEX_DIR = env_path("MUSES_INDEX_DIR", MUSES_VAR_DIR / "index")
# A library up to this many feature rows gets its missing index built inside the request
# that finds none; a larger one gets a queued rebuild and a 503 meanwhile.
MUSES_INDEX_INLINE_ROWS = env_int("MUSES_INDEX_INLINE_ROWS", 20_000)
# How often a process probes the database for rows another machine stored.
MUSES_INDEX_POLL_S = env_float("MUSES_INDEX_POLL_S", 2.0)
# Suggestions score at most this many rows (random blocks of the library past it): the
# least certain of 20,000 are as good to label next as the least certain of all.
MUSES_SUGGEST_MAX_ROWS = env_int("MUSES_SUGGEST_MAX_ROWS", 20_000)
# An index of at least this many rows is grouped into coarse cells for similar-image search
# (exact ranking of the probed cells' rows), smaller ones are searched exhaustively.
MUSES_INDEX_CELLS_MIN_ROWS = env_int("MUSES_INDEX_CELLS_MIN_ROWS", 50_000)
MUSES_SIMILAR_PROBE = env_int("MUSES_SIMILAR_PROBE", 16)

# The naive classes and their words (a module like naive_classification/definitions.py).
MUSES_NAIVE_DEFINITIONS = env_str("MUSES_NAIVE_DEFINITIONS", "naive_classification.definitions")

MUSES_CONFIG = {
    "classification": {
        "naive_classification": {
            "model_path": env_str("MUSES_NAIVE_MODEL_PATH", ""),
        },
    },
}

# --- API --------------------------------------------------------------------
# MUSES_API_OPEN=1 lets the seed's tokenless snippets run (the demo binds 127.0.0.1).
MUSES_API_OPEN = env_bool("MUSES_API_OPEN", False)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.AllowAny"
        if MUSES_API_OPEN
        else "rest_framework.permissions.IsAuthenticated"
    ],
    "DEFAULT_SCHEMA_CLASS": "muses.openapi.RoleAutoSchema",
    # Unset: no throttling. DRF keeps one timestamp per request in the window and re-pickles
    # them all on every request, so a huge "unlimited" rate (100000/hour) grew to ~7 ms per
    # request under sustained load; set real limits (e.g. 600/hour) in production.
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_str("MUSES_THROTTLE_UPLOADS", "") or None,
        "predictions": env_str("MUSES_THROTTLE_PREDICTIONS", "") or None,
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MUSES API",
    "DESCRIPTION": "Custom tagging and prediction for museum collection images.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema's own URL is not an operation of the API.
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "muses.schema.document_request_errors",
    ],
}

# --- background jobs --------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
Q_CLUSTER = {
    "name": "muses",
    "workers": env_int("MUSES_Q_WORKERS", 1),
    "timeout": env_int("MUSES_Q_TIMEOUT", 3600),
    # django-q2 re-queues a task after `retry` seconds: it must exceed `timeout`.
    "retry": env_int("MUSES_Q_TIMEOUT", 3600) + 600,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env_bool("MUSES_Q_SYNC", False),
    **({"redis": REDIS_URL} if REDIS_URL else {"orm": "default"}),
}

# django-q2 keeps its cluster stats in this cache, and each queue worker stamps there
# whether it is busy (muses.jobs.workers): every process must share it. Redis when
# there is one; otherwise a directory under var/ (one machine: the embedded profile).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(MUSES_VAR_DIR / "cache"),
        }
    )
}
# A queued job no worker takes for this long is reported failed.
MUSES_JOB_QUEUE_STALE_S = env_float("MUSES_JOB_QUEUE_STALE_S", 60.0)
# A running job's worker stamps its heartbeat this often; a stamp older than the stale time
# means the worker is gone (SIGKILL, out of memory) long before the queue's timeout says so.
MUSES_JOB_HEARTBEAT_S = env_float("MUSES_JOB_HEARTBEAT_S", 5.0)
MUSES_JOB_HEARTBEAT_STALE_S = env_float("MUSES_JOB_HEARTBEAT_STALE_S", 30.0)

# --- production hardening (all from the environment) -------------------------
SESSION_COOKIE_SECURE = env_bool("MUSES_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("MUSES_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("MUSES_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("MUSES_HSTS_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("MUSES_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

MUSES_LOG_LEVEL = env_str("MUSES_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "queue_per_task": {
            "()": "muses.queue_logging.PerTaskChatter",
            "verbose": MUSES_LOG_LEVEL.upper() == "DEBUG",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": MUSES_LOG_LEVEL},
    # One line per job, not three per queued task (muses/queue_logging.py).
    "loggers": {"django-q": {"filters": ["queue_per_task"]}},
}
