"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

Skipped, with the reason printed at the end of the run, when Playwright or /usr/bin/chromium
is missing (Playwright's own browser download does not work here: `apt-get install chromium`).
In CI (`CI=true`) a missing browser fails each browser test instead: a green CI run has
driven the browser.
"""

import importlib.util
import os
from pathlib import Path

import pytest

# Debian's package; MUSES_CHROMIUM points elsewhere (another system, or to try the skip).
CHROMIUM = Path(os.environ.get("MUSES_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "curator-pw"


def browser_missing() -> str:
    """Why the browser tests cannot run here, or '' when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install playwright==1.65.2)"
    if not CHROMIUM.exists():
        return f"Chromium is not at {CHROMIUM} (apt-get install chromium)"
    return ""


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    reason = browser_missing()
    if not reason or running_in_ci():
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


def pytest_runtest_setup(item):
    """In CI a browser test that cannot run is a failure, not a skip."""
    reason = browser_missing()
    if reason and running_in_ci() and item.get_closest_marker("browser"):
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reason = browser_missing()
    collected = any(
        "browser" in report.keywords
        for reports in terminalreporter.stats.values()
        for report in reports
        if hasattr(report, "keywords")
    )
    if reason and collected and not running_in_ci():
        terminalreporter.write_sep("!", f"BROWSER TESTS SKIPPED: {reason}", yellow=True, bold=True)


# Per module, not per session: once Playwright stops, the thread has no running event loop
# left, and the tests that follow need no exemption from Django's async-safety check.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test's thread while it lives;
    # the ORM calls made there (fixtures, a queued job, the database flush after each test)
    # are ordinary synchronous calls.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    # Leave the live server idle (no poll or image request in flight) before the test's
    # database goes away.
    page.goto("about:blank")
    context.close()


@pytest.fixture
def screenshot(page):
    """screenshot("03-grid") saves test-artifacts/browser/03-grid.png (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def numpy_backbone(settings):
    """The custom-tagging tests' numpy backbone: features without TensorFlow."""
    from muses.vision import backbones
    from tests.custom_tagging.conftest import TINY_INPUT, TINY_NAME, build_tiny

    backbones.BACKBONES[TINY_NAME] = (build_tiny, TINY_INPUT)
    backbones.get_backbone.cache_clear()
    settings.MUSES_BACKBONE = TINY_NAME
    yield backbones.get_backbone(TINY_NAME)
    backbones.get_backbone.cache_clear()
    backbones.BACKBONES.pop(TINY_NAME, None)


@pytest.fixture
def curator(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser("curator", "c@example.org", PASSWORD)


@pytest.fixture
def logged_in(page, live_server, curator):
    """A page logged in to the admin through its login form."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", curator.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


@pytest.fixture
def job_queue(monkeypatch):
    """Stands in for django-q2: the admin queues, the test decides when the 'worker' runs,
    so the page is seen following a job from queued to its end."""
    from django.utils.module_loading import import_string

    class Queue:
        def __init__(self):
            self.tasks = []

        def async_task(self, func, *args, **kwargs):
            self.tasks.append((func, args))
            return f"task-{len(self.tasks)}"

        def run_all(self):
            while self.tasks:
                func, args = self.tasks.pop(0)
                import_string(func)(*args)

    queue = Queue()
    monkeypatch.setattr("muses.jobs.services.async_task", queue.async_task)
    return queue
