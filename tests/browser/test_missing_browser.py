"""A missing browser skips the browser tests on a developer's machine and fails them in CI.

The browser conftest's hooks run in a pytest of their own, on a one-line browser test
(no Django, no live server), with Chromium pointed at a path that does not exist.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TEST = """
import pytest

@pytest.mark.browser
def test_it_would_drive_the_browser():
    pass
"""


def run_a_browser_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    browser: drives Chromium\n")
    (tmp_path / "test_flow.py").write_text(BROWSER_TEST)
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment.update(MUSES_CHROMIUM="/nonexistent/chromium", PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "tests.browser.conftest"]
        + ["-c", str(tmp_path / "pytest.ini"), str(tmp_path / "test_flow.py")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_ci_a_missing_browser_skips_with_the_reason_printed(tmp_path):
    result = run_a_browser_test(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "BROWSER TESTS SKIPPED: Chromium is not at /nonexistent/chromium" in result.stdout


def test_in_ci_a_missing_browser_fails_the_run(tmp_path):
    result = run_a_browser_test(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true and the browser tests cannot run: Chromium is not at" in result.stdout
    assert "skipped" not in result.stdout
