"""Test settings: the real settings, with jobs run in-process and state in a temp dir."""

import os
import tempfile
from pathlib import Path

_VAR = tempfile.mkdtemp(prefix="muses-test-")
os.environ.setdefault("MUSES_VAR_DIR", _VAR)
os.environ["MUSES_Q_SYNC"] = "1"
os.environ.setdefault("MUSES_API_OPEN", "0")
# fp32 on every CPU: the same vectors whatever the machine has (bf16 only where benched).
os.environ.setdefault("MUSES_PRECISION", "fp32")
# The suite runs on OpenVINO; CI's second pass sets MUSES_INFERENCE=tensorflow.
os.environ.setdefault("MUSES_INFERENCE", "openvino")

from muses.settings import *  # noqa: E402,F403

# Real weights are converted once per machine, not once per test run.
MUSES_WEIGHTS_DIR = env_path(  # noqa: F405
    "MUSES_TEST_WEIGHTS_DIR",
    BASE_DIR / "var" / "weights",  # noqa: F405
)
MUSES_MODEL_DIR = MUSES_VAR_DIR / "models"  # noqa: F405
MUSES_PLOT_DIR = MUSES_VAR_DIR / "plots"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Live-server tests (browser, seed snippets) share the database between threads. An
# in-memory SQLite database does that through a shared cache, whose table locks fail at
# once ("database table is locked"); a file database waits for its busy timeout instead.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(Path(_VAR) / "test.sqlite3")}  # noqa: F405
