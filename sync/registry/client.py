"""The ClinicalTrials.gov API v2 client: batching, paging, retries, politeness, error mapping."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from sync.config import DEFAULT_API_URL, DEFAULT_HISTORY_URL, ApiSettings
from sync.core.paging import PageBound

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Anything that kept a request from giving a usable answer."""


class InvalidRequest(ApiError):
    """A request that cannot be sent as asked (a URL too long or malformed, a scheme other
    than http and https, a header that HTTP cannot carry): bad input, never retried."""


# httpx's errors that come from what was asked, not from the network: retrying cannot help.
_BAD_INPUT = (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)


class ApiUnavailable(ApiError):
    """The API could not be reached (connection refused, DNS, timeouts) after retrying."""


def short_url(url: str | httpx.URL) -> str:
    """A URL as an error line shows it: host and path, and how many IDs a filter.ids query
    asked for instead of the IDs (a batch lists 200 of them)."""
    u = httpx.URL(str(url))
    text = f"{u.host}{u.path}"
    ids = u.params.get("filter.ids")
    if ids:
        n = len([i for i in ids.replace(",", "|").split("|") if i])
        text += f" ({n} ID{'s' if n != 1 else ''})"
    return text


class ApiHTTPError(ApiError):
    """The API answered with an error status (after retrying when it was transient)."""

    def __init__(self, status: int, url: str, body: str) -> None:
        self.status = status
        self.url = url
        # One line: a proxy's HTML error page is not worth quoting in full.
        self.body = " ".join(body.split())[:200]
        super().__init__(
            f"HTTP {status} from {short_url(url)}: {self.body}"
            if self.body
            else f"HTTP {status} from {short_url(url)}"
        )


class BadResponse(ApiError):
    """A 200 answer whose body is not what the API documents (HTML, truncated or invalid JSON)."""


class ResponseTooLarge(BadResponse):
    """An answer larger than api.max_response_bytes: refused, not retried."""


class PagingBound(ApiError):
    """The registry kept offering pages past what the query's count allows: stopped there.
    The pages before it were good answers (and are kept); the rest of the query is not."""


class NotFound(ApiError):
    """The registry does not know this NCT ID."""


class Moved(ApiError):
    """The NCT ID is an alias: the registry redirects to another one."""

    def __init__(self, old_id: str, new_id: str) -> None:
        self.old_id = old_id
        self.new_id = new_id
        super().__init__(f"{old_id} is an alias of {new_id}")


RETRY_STATUSES = frozenset({403, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class _Request:
    """One GET as the retry hook sees it (stamina hands it the retried call's arguments)."""

    url: str
    params: dict[str, str] | None
    deadline: float
    label: str  # e.g. "GET /version", for the retry log line
    attempts: int


def _cause(exc: BaseException) -> str:
    if isinstance(exc, _Retryable):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        try:
            host = exc.request.url.host
        except RuntimeError:  # raised by httpx when the error carries no request
            host = "the registry"
        return f"cannot reach {host}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


def _log_retry(details: RetryDetails) -> None:
    """stamina's retry hook: which request, when, which attempt, and why; one line."""
    req = details.args[0] if details.args else None
    if isinstance(req, _Request):
        what, of = req.label, f" of {req.attempts}"
    else:
        what, of = details.name, ""
    log.warning(
        f"retrying {what} in {details.wait_for:.1f} s "
        f"(attempt {details.retry_num + 1}{of}): {_cause(details.caused_by)}"
    )


# Replaces stamina's default hook, whose line ("stamina.retry_scheduled") names neither the
# request nor the reason.
set_on_retry_hooks([_log_retry])


class _TooSlow(httpx.TimeoutException):
    """The answer kept trickling in past the request's whole time budget: not retried."""


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class RateLimiter:
    """At most `rate` request starts per second, shared by every thread using the client."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)


class CtgovClient:
    """A polite, retrying client; counts the HTTP requests it makes (retries included)."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        history_url: str = DEFAULT_HISTORY_URL,
        settings: ApiSettings | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings or ApiSettings()
        self.api_url = api_url.rstrip("/")
        self.history_url = history_url.rstrip("/")
        self.requests = 0
        self.last_response_bytes = 0
        self._limiter = RateLimiter(self.settings.requests_per_second)
        self._http = httpx.Client(
            headers={"User-Agent": self.settings.user_agent, "Accept": "application/json"},
            timeout=self.settings.timeout_seconds,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CtgovClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the transport layer ---------------------------------------------------------------

    def _backoff(self, exc: BaseException) -> bool | float:
        if isinstance(exc, _Retryable):
            after = _retry_after(exc.response)
            if after is not None:
                # A wait longer than the whole retry budget is not worth starting.
                return after if after <= self.settings.max_retry_seconds else False
            return True
        if isinstance(exc, (ResponseTooLarge, _TooSlow, *_BAD_INPUT)):
            return False
        return isinstance(exc, (httpx.TransportError, BadResponse))

    def _label(self, url: str, params: dict[str, str] | None) -> str:
        path = url.split("?", 1)[0]
        for base in (self.history_url, self.api_url):
            if url.startswith(base + "/"):
                path = url[len(base) :]
        if params and params.get("filter.ids"):
            n = len(params["filter.ids"].split("|"))
            path += f" ({n} ID{'s' if n != 1 else ''})"
        return f"GET {path}"

    def _attempt(self, req: _Request) -> tuple[httpx.Response, Any]:
        """One try: the answer, and its JSON when it is a success (decoding is retried too)."""
        response = self._send(req.url, req.params, req.deadline)
        return response, (self._decode(response) if response.is_success else None)

    def _send(self, url: str, params: dict[str, str] | None, deadline: float) -> httpx.Response:
        self._limiter.wait()
        self.requests += 1
        cap = self.settings.max_response_bytes
        with self._http.stream("GET", url, params=params) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise ResponseTooLarge(f"{url}: answer of {declared} bytes is over the cap {cap}")
            # Pieces joined once: a growing buffer and its copy held a page twice over.
            pieces: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_bytes():
                    pieces.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        # Refused as it arrives: a runaway body never sits whole in memory.
                        raise ResponseTooLarge(f"{url}: answer is over the cap of {cap} bytes")
                    if time.monotonic() > deadline:
                        # The read timeout is per piece: a drip of small pieces never trips it.
                        raise _TooSlow(
                            "the answer took longer than api.max_retry_seconds + "
                            "api.timeout_seconds",
                            request=response.request,
                        )
            except httpx.DecodingError as exc:
                # A body its Content-Encoding does not describe (bad gzip): a bad answer.
                raise BadResponse(f"undecodable answer from {short_url(url)}: {exc}") from None
            body = b"".join(pieces)
            del pieces
            self.last_response_bytes = len(body)
            answer = httpx.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=response.request,
            )
        if answer.status_code in RETRY_STATUSES:
            raise _Retryable(answer)
        return answer

    @contextmanager
    def stream(
        self, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> Iterator[httpx.Response]:
        """One polite, counted GET whose body the caller reads as it arrives (a download far
        over max_response_bytes); no retries: the caller resumes what it has."""
        self._limiter.wait()
        self.requests += 1
        with self._http.stream("GET", url, params=params, headers=headers) as response:
            yield response

    def get(self, url: str, params: dict[str, str] | None = None) -> Any:
        """GET a JSON document, retrying transient failures within the configured bounds.

        Returns the decoded JSON for 2xx; raises NotFound for 404, Moved for 301/302/307/308,
        ApiHTTPError for other statuses, ApiUnavailable when the API cannot be reached.
        """
        s = self.settings
        # One request, retries included, never takes much longer than this.
        deadline = time.monotonic() + s.max_retry_seconds + s.timeout_seconds
        # The decorator, not retry_context: only it hands the call's arguments (the request)
        # to the retry hook.
        attempt = stamina.retry(
            on=self._backoff,
            attempts=s.max_attempts,
            timeout=s.max_retry_seconds,
            wait_initial=s.retry_wait_initial,
            wait_max=s.retry_wait_max,
            wait_jitter=min(1.0, s.retry_wait_max),
        )(self._attempt)
        req = _Request(url, params, deadline, self._label(url, params), s.max_attempts)
        try:
            response, doc = attempt(req)
            if response.is_success:
                return doc
        except _BAD_INPUT as exc:
            raise InvalidRequest(
                f"{req.label} cannot be sent: {exc or type(exc).__name__}"
            ) from None
        except _Retryable as exc:
            r = exc.response
            raise ApiHTTPError(r.status_code, str(r.url), r.text) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiUnavailable(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise ApiUnavailable(
                f"request to {url} failed: {type(exc).__name__} {exc}".strip()
            ) from exc
        status = response.status_code
        if status == 404:
            raise NotFound(response.text.strip() or f"not found: {url}")
        if status in (301, 302, 307, 308):
            raise _moved(url, response)
        raise ApiHTTPError(status, str(response.url), response.text)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        ctype = response.headers.get("Content-Type", "")
        if "json" not in ctype:
            raise BadResponse(
                f"expected JSON from {short_url(response.url)}, got {ctype or 'no type'}"
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise BadResponse(f"invalid JSON from {short_url(response.url)}: {exc}") from exc

    # -- the documented API ----------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        doc = self.get(f"{self.api_url}/version")
        if not isinstance(doc, dict) or not isinstance(doc.get("dataTimestamp"), str):
            raise BadResponse("/version answered without a dataTimestamp")
        return doc

    def study(self, nct_id: str) -> dict[str, Any]:
        doc = self.get(f"{self.api_url}/studies/{nct_id}", {"format": "json"})
        if not isinstance(doc, dict):
            raise BadResponse(f"/studies/{nct_id} answered with a non-object")
        return doc

    def pages(
        self, params: dict[str, str], *, max_page_bytes: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of a /studies query; later pages repeat the first page's parameters.

        `max_page_bytes`: after each page, the next asks for as many records as fit in that
        many bytes at the size of the page's records (never more than the first page asked
        for): a run of large records shrinks the pages, and memory with them. Only pageSize,
        pageToken and countTotal may differ between pages of one query.

        The pages are bounded (sync.core.paging.PageBound): a filter.ids query by the number of
        IDs it asks for, any other by the first page's totalCount (countTotal=true is asked);
        PagingBound when the registry offers pages past it, BadResponse when it does not count.
        """
        base = {"format": "json", "pageSize": str(self.settings.page_size), **params}
        ids = _ids_of(base.get("filter.ids", ""))
        if not ids:
            base["countTotal"] = "true"
        most = int(base["pageSize"])
        token: str | None = None
        seen: set[str] = set()
        bound = PageBound(most=len(ids), first_size=most) if ids else None
        while True:
            query = dict(base)
            if token:
                query["pageToken"] = token
                query.pop("countTotal", None)
            doc = self.get(f"{self.api_url}/studies", query)
            if not isinstance(doc, dict) or not isinstance(doc.get("studies", []), list):
                raise BadResponse("/studies answered without a studies list")
            if bound is None:
                total = doc.get("totalCount")
                if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                    raise BadResponse(
                        "/studies answered without a count of the query's studies (totalCount)"
                    )
                bound = PageBound(most=total, first_size=most)
            bound.page(int(query["pageSize"]))
            if max_page_bytes and doc.get("studies"):
                per_record = self.last_response_bytes / len(doc["studies"])
                base["pageSize"] = str(max(1, min(most, int(max_page_bytes / per_record))))
            yield doc
            token = doc.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise BadResponse("/studies repeated a nextPageToken (paging loop)")
            seen.add(token)
            if bound.exceeded():
                n = len(ids)
                counted = f"{n} ID{'s' if n != 1 else ''}" if ids else f"a count of {bound.most}"
                what = f"/studies ({counted} from {ids[0]})" if ids else "/studies search"
                raise PagingBound(bound.reason(what, counted))

    def studies_by_ids(
        self, nct_ids: list[str], since: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Pages of full records for these IDs (one chunk); `since` limits to records updated
        on or after that date (YYYY-MM-DD)."""
        params = {"filter.ids": "|".join(nct_ids)}
        if since:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
        yield from self.pages(params)

    # -- the website's undocumented record history (best effort) ---------------------------

    def history_list(self, nct_id: str) -> dict[str, Any]:
        doc = self.get(f"{self.history_url}/studies/{nct_id}", {"history": "true"})
        if not isinstance(doc, dict):
            raise BadResponse(f"history of {nct_id}: not an object")
        return doc

    def history_version(self, nct_id: str, version: int) -> dict[str, Any]:
        doc = self.get(f"{self.history_url}/studies/{nct_id}/history/{version}")
        if not isinstance(doc, dict):
            raise BadResponse(f"history of {nct_id} v{version}: not an object")
        return doc


def _ids_of(value: str) -> list[str]:
    return [i for i in value.replace(",", "|").split("|") if i.strip()]


def _moved(url: str, response: httpx.Response) -> Moved:
    location = response.headers.get("Location", "")
    new_id = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0].upper()
    old_id = url.rstrip("/").rsplit("/", 1)[-1].upper()
    return Moved(old_id, new_id)
