import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage_check(tmp_path, *options: str, **environ: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a fresh process with the production settings module."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "muses.settings",
        "MUSES_VAR_DIR": str(tmp_path),
        **environ,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_production_profile_passes_djangos_deploy_checks(tmp_path):
    result = manage_check(
        tmp_path,
        "--deploy",
        "--fail-level",
        "WARNING",
        MUSES_LOCAL="0",
        SECRET_KEY="x" * 20 + "-production-only-key-with-plenty-of-entropy-9f8e7d6c5b4a",
        ALLOWED_HOSTS="muses.example.org",
        MUSES_SECURE_COOKIES="1",
        MUSES_SSL_REDIRECT="1",
        MUSES_HSTS_SECONDS="31536000",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage_check(tmp_path, MUSES_LOCAL="0", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_s3_media_without_a_bucket_stop_start_up_naming_the_variable(tmp_path):
    result = manage_check(tmp_path, MUSES_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr
