"""Tiingo end-of-day (EOD) REST client: daily prices and ticker metadata.

The wire contract is in ``tiingo_api.md``. This module only fetches and classifies: it returns
each body exactly as received (for the bronze layer) and raises a specific ``TiingoError``
subclass for everything that is not data.

Libraries: ``requests.Session`` reuses one connection pool across the hundreds of tickers of a
run, and ``tenacity`` holds the retry policy. Tenacity is well kept and states a policy
declaratively (what to retry, how long to wait, when to stop), so the policy reads as a few
lines instead of a hand-written loop with its own off-by-one bugs.

The API token travels only in the ``Authorization: Token ...`` header. It is never put in a URL,
a log line, an exception message or ``repr``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_fixed,
    wait_random_exponential,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.tiingo.com"
USER_AGENT = "equity-analytics-ingestion/0.1 (python-requests)"
ENDPOINT_DAILY_PRICES = "daily_prices"
ENDPOINT_TICKER_METADATA = "ticker_metadata"

_SYMBOL_CAP_MARKER = "symbol look up"
_BANDWIDTH_CAP_MARKER = "bandwidth"
_EXCERPT_CHARS = 200


class TiingoError(Exception):
    """Base class for every error this client raises."""


class TiingoAuthError(TiingoError):
    """The token is missing or Tiingo refused it (HTTP 401/403)."""


class TiingoRateLimitError(TiingoError):
    """HTTP 429 persisted after the bounded rate-limit waits."""


class TiingoQuotaError(TiingoError):
    """A monthly cap (unique symbols or bandwidth) is exhausted; retrying cannot help."""


class TiingoUnexpectedResponse(TiingoError):
    """A response that is neither data nor a known error: wrong JSON shape, HTTP 400, ..."""


class TiingoUnavailableError(TiingoError):
    """5xx, timeouts or connection errors that outlasted every retry."""


@dataclass(frozen=True)
class TiingoResponse:
    """One Tiingo answer that the caller should store: data (200) or a missing ticker (404)."""

    ticker: str
    endpoint: str
    path: str
    params: dict[str, str]
    http_status: int
    body: bytes
    content_type: str
    fetched_at: datetime
    attempts: int

    @property
    def not_found(self) -> bool:
        return self.http_status == 404

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class RetryEvent:
    """Reported to ``on_retry`` just before the client sleeps and tries again."""

    ticker: str
    reason: str
    attempt: int
    wait_seconds: float


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before giving up.

    ``max_attempts`` bounds the HTTP attempts for 5xx, timeouts and connection errors (per
    rate-limit try), which back off exponentially with full jitter from ``backoff_initial`` up
    to ``backoff_max`` seconds.
    A 429 is waited out ``rate_limit_wait`` seconds at a time, at most ``rate_limit_attempts``
    times, and then reported: Tiingo's caps reset hourly or daily, so waiting longer belongs to
    the operator, not to a blocked run. ``timeout`` applies to connecting and to each read.
    """

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    rate_limit_wait: float = 60.0
    rate_limit_attempts: int = 3
    timeout: float = 30.0


class _TransientFailure(Exception):
    """A failure worth retrying with backoff (5xx, timeout, dropped connection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RateLimited(Exception):
    """HTTP 429 that is not a monthly cap."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.reason = "rate limited (HTTP 429)"
        self.detail = detail


class _TokenAuth(requests.auth.AuthBase):
    """Sets the token header; passing an auth object also stops requests reading ~/.netrc."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Token {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(<hidden>)"


def session_date(tiingo_date: str) -> date:
    """The trading session of a Tiingo ``date`` string.

    Historical bars say ``2024-01-02T00:00:00.000Z`` and the latest bar says
    ``2024-01-02T00:00:00+00:00``; both mean the 2024-01-02 session. The first ten characters
    are the session: converting the midnight-UTC timestamp to New York time would move every
    bar to the previous day.
    """
    try:
        return date.fromisoformat(tiingo_date[:10])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Not a Tiingo date: {tiingo_date!r} (expected YYYY-MM-DD followed by a time)"
        ) from exc


@dataclass
class _Attempts:
    count: int = 0


class TiingoClient:
    """Fetches Tiingo EOD data over one HTTP session. Use as a context manager or call close()."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        policy: RetryPolicy = RetryPolicy(),
        on_retry: Callable[[RetryEvent], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        api_key = (api_key or "").strip()
        if not api_key:
            raise TiingoAuthError(
                "TIINGO_API_KEY is not set or is empty: set it to your Tiingo API token "
                "(https://www.tiingo.com/account/api/token)."
            )
        self._api_key = api_key
        self._auth = _TokenAuth(api_key)
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._on_retry = on_retry
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}

    def __repr__(self) -> str:
        return f"TiingoClient(base_url={self.base_url!r}, policy={self.policy!r})"

    def __enter__(self) -> TiingoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    def daily_prices(self, ticker: str, start: date, end: date) -> TiingoResponse:
        """Daily bars with ``start <= session <= end``; ``[]`` (no bars) is a valid answer."""
        if end < start:
            raise ValueError(f"end {end} is before start {start} for {ticker}")
        symbol = _normalise_ticker(ticker)
        params = {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "format": "json",
            "resampleFreq": "daily",
        }
        path = f"/tiingo/daily/{quote(symbol, safe='')}/prices"
        return self._fetch(symbol, ENDPOINT_DAILY_PRICES, path, params)

    def ticker_metadata(self, ticker: str) -> TiingoResponse:
        """Name, exchange and listing dates of one ticker."""
        symbol = _normalise_ticker(ticker)
        path = f"/tiingo/daily/{quote(symbol, safe='')}"
        return self._fetch(symbol, ENDPOINT_TICKER_METADATA, path, {})

    def _fetch(
        self, ticker: str, endpoint: str, path: str, params: dict[str, str]
    ) -> TiingoResponse:
        attempts = _Attempts()
        policy = self.policy
        # Nested policies: each rate-limit try gets its own short backoff budget for transient
        # failures, so a 503 between two 429s cannot use up the rate-limit waits.
        transient = Retrying(
            retry=retry_if_exception_type(_TransientFailure),
            wait=wait_random_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max),
            stop=stop_after_attempt(policy.max_attempts),
            before_sleep=self._report_retry(ticker, attempts),
            reraise=True,
        )
        rate_limited = Retrying(
            retry=retry_if_exception_type(_RateLimited),
            wait=wait_fixed(policy.rate_limit_wait),
            stop=stop_after_attempt(policy.rate_limit_attempts + 1),
            before_sleep=self._report_retry(ticker, attempts),
            reraise=True,
        )
        logger.debug("GET %s params=%s", path, params)
        try:
            response = rate_limited(transient, self._attempt, ticker, path, params, attempts)
        except _TransientFailure as exc:
            raise TiingoUnavailableError(
                f"Tiingo {endpoint} for {ticker} failed {attempts.count} times "
                f"(last: {exc.reason}). Tiingo or the network is down; try again later."
            ) from exc
        except _RateLimited as exc:
            raise TiingoRateLimitError(
                f"Tiingo kept answering HTTP 429 for {ticker} after "
                f"{policy.rate_limit_attempts} waits of {policy.rate_limit_wait:g} s. Hourly "
                "limits reset on the hour and daily limits at midnight US/Eastern: re-run later "
                f"or upgrade the Tiingo plan. Tiingo said: {exc.detail}"
            ) from None

        self._check_response(ticker, endpoint, response)
        logger.debug(
            "GET %s -> HTTP %d, %d bytes, %d attempt(s)",
            path,
            response.status_code,
            len(response.content),
            attempts.count,
        )
        return TiingoResponse(
            ticker=ticker,
            endpoint=endpoint,
            path=path,
            params=dict(params),
            http_status=response.status_code,
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            fetched_at=datetime.now(UTC),
            attempts=attempts.count,
        )

    def _attempt(
        self, ticker: str, path: str, params: dict[str, str], attempts: _Attempts
    ) -> requests.Response:
        """One HTTP request; raises the private exceptions that the retry policies act on."""
        attempts.count += 1
        try:
            response = self._session.get(
                self.base_url + path,
                params=params,
                headers=self._headers,
                auth=self._auth,
                timeout=self.policy.timeout,
            )
        except requests.Timeout as exc:
            raise _TransientFailure(f"timeout after {self.policy.timeout:g} s") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # A body cut off mid-transfer is a dropped connection too.
            raise _TransientFailure(f"connection error ({type(exc).__name__})") from exc

        status = response.status_code
        if status >= 500:
            raise _TransientFailure(f"HTTP {status}")
        if status == 429:
            detail = self._excerpt(response.content)
            if _BANDWIDTH_CAP_MARKER in detail.lower():
                raise TiingoQuotaError(
                    f"Tiingo monthly bandwidth cap reached while fetching {ticker}. It resets on "
                    "the 1st of the month (US/Eastern); upgrade the plan to go on now. "
                    f"Tiingo said: {detail}"
                )
            raise _RateLimited(detail)
        return response

    def _check_response(self, ticker: str, endpoint: str, response: requests.Response) -> None:
        """Accept a 404 or a 200 with the expected JSON shape; raise for everything else."""
        status = response.status_code
        if status == 404:
            return
        if status == 200 and _has_expected_shape(endpoint, response.content):
            return
        detail = self._excerpt(response.content)
        if status in (401, 403):
            raise TiingoAuthError(
                f"Tiingo refused the API token (HTTP {status}) for {ticker}. Check that "
                "TIINGO_API_KEY holds a valid token with access to the end-of-day API. "
                f"Tiingo said: {detail}"
            )
        if status != 200:
            raise TiingoUnexpectedResponse(
                f"Tiingo {endpoint} for {ticker} answered HTTP {status}: {detail}"
            )
        # The monthly symbol cap arrives as HTTP 200 in plain text (sometimes wrapped in JSON).
        if _SYMBOL_CAP_MARKER in detail.lower():
            raise TiingoQuotaError(
                f"Tiingo monthly unique-symbol cap reached at {ticker}. It resets on the 1st "
                "of the month (US/Eastern); upgrade the plan to go on now. "
                f"Tiingo said: {detail}"
            )
        raise TiingoUnexpectedResponse(
            f"Tiingo {endpoint} for {ticker} answered HTTP 200 with a body that is not "
            f"the expected JSON: {detail}"
        )

    def _report_retry(self, ticker: str, attempts: _Attempts) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            reason = getattr(failure, "reason", "unknown failure")
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.info("%s: %s, retrying in %.3g s", ticker, reason, wait)
            if self._on_retry is not None:
                self._on_retry(RetryEvent(ticker, reason, attempts.count, wait))

        return before_sleep

    def _excerpt(self, body: bytes) -> str:
        """A short single-line excerpt of a body for messages, with the token masked."""
        text = " ".join(body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
        text = text.replace(self._api_key, "<hidden>")
        if len(text) > _EXCERPT_CHARS:
            text = text[:_EXCERPT_CHARS] + "..."
        return text or "<empty body>"


def _normalise_ticker(ticker: str) -> str:
    symbol = ticker.strip().upper()
    if not symbol:
        raise ValueError("ticker is empty")
    return symbol


def _has_expected_shape(endpoint: str, body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if endpoint == ENDPOINT_TICKER_METADATA:
        return isinstance(payload, dict) and "ticker" in payload
    return isinstance(payload, list) and all(
        isinstance(row, dict) and isinstance(row.get("date"), str) for row in payload
    )
