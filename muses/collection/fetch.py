"""Bounded HTTP(S) downloads for importers: only the hosts the source names, a timeout per
attempt, retries with back-off, a size limit, and one clear message per failure.

The standard library's urllib is enough here (``requests`` is not a runtime dependency).
"""

import http.client
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, urlsplit

USER_AGENT = "MUSES-import/1.0 (+IIIF)"
CHUNK = 64 * 1024
RETRY_STATUSES = {429, 500, 502, 503, 504}
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # reserved characters and '%': kept as they are
MAX_RETRY_AFTER = 30.0  # seconds: a server asking for longer is treated as failing


class FetchError(Exception):
    """A URL that could not be fetched; the message names it and says why. ``transient``:
    the server did not answer (timeouts, refused connections, 5xx) however often asked."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class _Refused(Exception):
    pass


@dataclass(frozen=True)
class Fetched:
    url: str
    data: bytes
    content_type: str  # lower case, without parameters; "" when the server sent none


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or ''}:{parts.port or ''}".lower()


class Fetcher:
    """GETs URLs on allowed hosts only. A host becomes allowed when the importer takes a URL
    from a document the user named (``allow``); a redirect elsewhere is refused."""

    def __init__(self, *, timeout: float, retries: int, backoff: float):
        self.timeout = timeout
        self.attempts = max(1, retries)
        self.backoff = backoff
        self._hosts: set[str] = set()
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_GuardedRedirects(self))

    def allow(self, url: str) -> str:
        """Accept ``url`` as named by a source document; raise FetchError if it is not http(s)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(f"{url}: only http and https URLs are fetched")
        with self._lock:
            self._hosts.add(host_of(url))
        return url

    def is_allowed(self, url: str) -> bool:
        with self._lock:
            return urlsplit(url).scheme in ("http", "https") and host_of(url) in self._hosts

    def get(self, url: str, *, max_bytes: int, accept: str = "*/*") -> Fetched:
        if not self.is_allowed(url):
            raise FetchError(f"{url}: not a host named by the source, not contacted")
        for attempt in range(1, self.attempts + 1):
            try:
                return self._get_once(url, max_bytes=max_bytes, accept=accept)
            except _Retry as retry:
                if attempt == self.attempts:
                    tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise FetchError(f"{retry.message} ({tries})", transient=True) from None
                time.sleep(retry.wait or self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _get_once(self, url: str, *, max_bytes: int, accept: str) -> Fetched:
        request = urllib.request.Request(
            _ascii(url), headers={"User-Agent": USER_AGENT, "Accept": accept}
        )
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                _check_length(url, response.headers, max_bytes)
                data = _read_bounded(url, response, max_bytes, deadline, self.timeout)
                return Fetched(response.geturl(), data, _content_type(response.headers))
        except _Refused as exc:
            raise FetchError(str(exc)) from None
        except urllib.error.HTTPError as exc:
            raise _http_failure(url, exc) from None
        except TimeoutError:
            raise _Retry(f"{url}: no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retry(f"{url}: no answer within {self.timeout:g} s") from None
            raise _Retry(f"{url}: cannot connect ({exc.reason})") from None
        except (http.client.InvalidURL, ValueError) as exc:  # e.g. spaces, non-ASCII
            raise FetchError(f"{url}: not a valid URL ({exc})") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise _Retry(f"{url}: the connection broke ({exc})") from None


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.message, self.wait = message, wait


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a host the source named: nothing else is contacted."""

    def __init__(self, fetcher: Fetcher):
        self.fetcher = fetcher

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not self.fetcher.is_allowed(newurl):
            raise _Refused(
                f"{req.full_url}: redirected to {newurl}, a host the source does not name"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _http_failure(url: str, exc: urllib.error.HTTPError) -> Exception:
    message = f"{url}: HTTP {exc.code} {exc.reason}".rstrip()
    exc.close()
    if exc.code in RETRY_STATUSES:
        return _Retry(message, _retry_after(exc.headers))
    return FetchError(message)


def _retry_after(headers: Message | None) -> float | None:
    try:
        seconds = float((headers or {}).get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None


def _check_length(url: str, headers: Message, max_bytes: int) -> None:
    try:
        declared = int(headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise FetchError(f"{url}: too large ({declared:,} bytes, the limit is {max_bytes:,})")


def _read_bounded(url: str, response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    """The body, refused past max_bytes or past the deadline: a server that trickles a byte
    at a time must not hold an import for ever."""
    chunks, size = [], 0
    while True:
        chunk = response.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url}: too large (over the limit of {max_bytes:,} bytes)")
        if time.monotonic() > deadline:
            raise _Retry(f"{url}: the download took longer than {timeout:g} s")
        chunks.append(chunk)


def _ascii(url: str) -> str:
    """IRIs (an identifier with 'é' or a space) percent-encoded, as HTTP needs; what is
    already encoded stays as it is."""
    return quote(url, safe=URL_SAFE)


def _content_type(headers: Message) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()
