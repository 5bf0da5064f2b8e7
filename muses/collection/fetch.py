"""Bounded HTTP(S) downloads for importers: only the hosts the source names, never a
private, loopback or link-local address unless the user allows it, a wall-clock deadline
per attempt, retries with back-off, a size limit, and one clear message per failure.

The deadline covers the whole exchange (connect, headers, every read, the whole body): a
watchdog shuts the socket down when it passes, so a server that trickles a byte a second
cannot hold an import longer than MUSES_IIIF_TIMEOUT per attempt.

The standard library's urllib is enough here (``requests`` is not a runtime dependency).
"""

import http.client
import ipaddress
import socket
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


PRIVATE_HINT = (
    "set MUSES_IIIF_ALLOW_PRIVATE=1 to import from a server on your own network "
    "(a museum's intranet)"
)


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

    def __init__(
        self,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        allow_private: bool = False,
        deadline: float | None = None,
    ):
        """timeout: seconds to connect and for each read; deadline: seconds for a whole
        attempt, wall clock (the timeout when not given)."""
        self.timeout = timeout
        self.deadline = timeout if deadline is None else deadline
        self.attempts = max(1, retries)
        self.backoff = backoff
        self.allow_private = allow_private
        self._hosts: set[str] = set()
        self._lock = threading.Lock()

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
        guard = _Guard(self.deadline, allow_private=self.allow_private)
        opener = urllib.request.build_opener(
            _GuardedRedirects(self), _GuardedHTTP(guard), _GuardedHTTPS(guard)
        )
        answered = False
        try:
            with guard, opener.open(request, timeout=self.timeout) as response:
                answered = True
                _check_length(url, response.headers, max_bytes)
                data = _read_bounded(url, response, max_bytes, guard)
                return Fetched(response.geturl(), data, _content_type(response.headers))
        except _Refused as exc:
            raise FetchError(str(exc)) from None
        except urllib.error.HTTPError as exc:
            raise _http_failure(url, exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise self._failure(url, exc, guard, answered) from None
        except ValueError as exc:  # e.g. spaces, non-ASCII
            raise FetchError(f"{url}: not a valid URL ({exc})") from None

    def _failure(self, url: str, exc: Exception, guard: "_Guard", answered: bool) -> Exception:
        """What a broken or late exchange reports; a timeout or the deadline is retried."""
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, _Refused):
            return FetchError(str(reason))
        if isinstance(exc, http.client.InvalidURL):
            return FetchError(f"{url}: not a valid URL ({exc})")
        if guard.expired():
            if answered:
                return _Retry(f"{url}: the download took longer than {self.deadline:g} s")
            return _Retry(f"{url}: no answer within {self.deadline:g} s")
        if isinstance(reason, TimeoutError):
            return _Retry(f"{url}: no answer within {self.timeout:g} s")
        if isinstance(exc, urllib.error.URLError):
            return _Retry(f"{url}: cannot connect ({reason})")
        return _Retry(f"{url}: the connection broke ({exc})")


class _Guard:
    """One attempt's deadline and address check. Its connections resolve the host, refuse
    addresses that are not public (unless allowed) and connect to the address checked, so
    a name that resolves anew (DNS rebinding) cannot slip past; at the deadline a
    watchdog shuts their sockets down, which ends any read blocked on them at once."""

    def __init__(self, seconds: float, *, allow_private: bool):
        self.seconds = seconds
        self.allow_private = allow_private
        self.end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._watchdog = threading.Timer(self.left(), self._expire)
        self._watchdog.daemon = True

    def __enter__(self) -> "_Guard":
        self._watchdog.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._watchdog.cancel()

    def left(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0

    def connect(self, address, timeout=None, source_address=None) -> socket.socket:
        host, port = address
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not self.allow_private:
            for *_, sockaddr in candidates:
                _refuse_private(host, sockaddr[0])
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in candidates:
            sock = socket.socket(family, kind, proto)
            self._register(sock)
            try:
                sock.settimeout(max(0.001, min(self.seconds, self.left())))
                sock.connect(sockaddr)
                sock.settimeout(timeout)  # each read: at most the timeout, then the watchdog
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"cannot resolve {host}")

    def _register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
        if self.expired():
            self._expire()

    def _expire(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


def _refuse_private(host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise _Refused(
            f"{host} is {ip}, a private, loopback or link-local address: not contacted; "
            + PRIVATE_HINT
        )


def _guarded(connection_class, guard: _Guard):
    class GuardedConnection(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = guard.connect

    return GuardedConnection


class _GuardedHTTP(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard = guard

    def http_open(self, req):
        return self.do_open(_guarded(http.client.HTTPConnection, self.guard), req)


class _GuardedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard = guard

    def https_open(self, req):
        connection = _guarded(http.client.HTTPSConnection, self.guard)
        return self.do_open(connection, req, context=self._context)


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


def _read_bounded(url: str, response, max_bytes: int, guard: _Guard) -> bytes:
    """The body, refused past max_bytes or past the deadline. read1 returns what has
    arrived instead of waiting for a whole chunk, and the watchdog ends a read that the
    deadline overtakes: a server that trickles a byte at a time must not hold an import."""
    chunks, size = [], 0
    while True:
        chunk = response.read1(CHUNK)
        if guard.expired():
            raise _Retry(f"{url}: the download took longer than {guard.seconds:g} s")
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url}: too large (over the limit of {max_bytes:,} bytes)")
        chunks.append(chunk)


def _ascii(url: str) -> str:
    """IRIs (an identifier with 'é' or a space) percent-encoded, as HTTP needs; what is
    already encoded stays as it is."""
    return quote(url, safe=URL_SAFE)


def _content_type(headers: Message) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()
