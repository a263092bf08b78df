"""A real HTTP server on loopback that answers like Tiingo's EOD API, from a ``SampleMarket``.

Wire details (date formats, key orders, error bodies and statuses, plain-text 200 limit
messages) follow tiingo_api.md §2-§6 and the §9 checklist. Test controls: a log of every request
as received, injectable faults, an hourly request cap and a movable "today" (``as_of``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from ingestion.sample_market.market import TIINGO_JSON_DECIMALS, AdjustedBar, SampleMarket

HISTORICAL_KEYS = (
    "date",
    "close",
    "high",
    "low",
    "open",
    "volume",
    "adjClose",
    "adjHigh",
    "adjLow",
    "adjOpen",
    "adjVolume",
    "divCash",
    "splitFactor",
)
LATEST_KEYS = tuple(sorted(HISTORICAL_KEYS))

HOURLY_LIMIT_MESSAGE = (
    "Error: You have run over your hourly request allocation. Please upgrade at "
    "https://api.tiingo.com/pricing to have your limits increased."
)
BANDWIDTH_LIMIT_MESSAGE = (
    "Error: You have run over your monthly bandwidth allocation. Please upgrade at "
    "https://api.tiingo.com/pricing to have your limits increased."
)
SYMBOL_LIMIT_MESSAGE = (
    "You have run over your 500 symbol look up for this month. Please upgrade at "
    "https://api.tiingo.com/pricing to have your limits increased."
)
NGINX_500_PAGE = (
    "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    "<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

FAULT_KINDS = frozenset(
    {"http_500", "http_503", "rate_limit_429", "slow", "symbol_cap_200", "bandwidth_429"}
)
RESAMPLE_FREQUENCIES = ("daily", "weekly", "monthly", "annually")
HOUR_SECONDS = 3600.0

_JSON = "application/json"
_CSV = "text/csv"
_TEXT = "text/plain"
_HTML = "text/html"
_METADATA_PATH = re.compile(r"^/tiingo/daily/([^/]+)$")
_PRICES_PATH = re.compile(r"^/tiingo/daily/([^/]+)/prices$")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # path and query string exactly as received
    headers: dict[str, str]


@dataclass
class _Fault:
    kind: str
    remaining: int
    path_contains: str | None
    delay: float


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str = _JSON


class BadRequest(ValueError):
    """A malformed query parameter; answered with HTTP 400."""


def _json_response(status: int, payload: object) -> _Response:
    return _Response(status, json.dumps(payload, separators=(",", ":")).encode())


def _text_response(message: str) -> _Response:
    return _Response(200, message.encode(), _TEXT)


class SampleTiingoServer:
    """Serves a ``SampleMarket`` over HTTP on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(
        self,
        market: SampleMarket,
        *,
        token: str,
        as_of: date | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hourly_request_limit: int | None = None,
        invalid_token_status: int = 401,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"The sample server only binds to loopback addresses, not {host!r}")
        if not token:
            raise ValueError("The sample server needs a non-empty token")
        self.market = market
        self._token = token
        self._host = host
        self._port = port
        self._as_of = as_of or market.sessions[-1]
        self._hourly_request_limit = hourly_request_limit
        self._invalid_token_status = invalid_token_status
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._hour_started = time.monotonic()
        self._requests_this_hour = 0
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> SampleTiingoServer:
        if self._httpd is not None:
            raise RuntimeError("The sample server is already running")
        httpd = _HttpServer((self._host, self._port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns promptly
            name="sample-tiingo-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SampleTiingoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("Start the sample server before asking for its URL")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # Test controls

    @property
    def as_of(self) -> date:
        with self._lock:
            return self._as_of

    def advance_to(self, day: date) -> None:
        """Move the server's "today": later bars are invisible, adjustments are as of ``day``."""
        with self._lock:
            self._as_of = day

    @property
    def requests_log(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests_log(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        path_contains: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``count`` matching requests with a fault instead of data.

        Kinds: ``http_500`` (nginx HTML page), ``http_503`` (empty body), ``rate_limit_429``
        and ``bandwidth_429`` (Tiingo's JSON bodies; 200 plain text in CSV mode),
        ``symbol_cap_200`` (the 137-byte plain-text monthly symbol message with status 200)
        and ``slow`` (sleep ``delay`` seconds, then answer normally).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {kind!r}; choose one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._faults.append(_Fault(kind, count, path_contains, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_hourly_quota(self) -> None:
        """Start a new hourly window now (tests cannot wait an hour)."""
        with self._lock:
            self._hour_started = time.monotonic()
            self._requests_this_hour = 0

    # Request handling (called from the HTTP handler threads)

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str]) -> _Response:
        with self._lock:
            self._requests.append(RecordedRequest(method, raw_path, dict(headers)))
            fault = self._take_fault(raw_path)
            as_of = self._as_of
        split = urlsplit(raw_path)
        params = {name: values[-1] for name, values in parse_qs(split.query).items()}
        csv_mode = params.get("format", "json").lower() == "csv"

        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            else:
                return _fault_response(fault.kind, csv_mode)

        auth_error = self._check_token(headers, params)
        if auth_error is not None:
            return auth_error
        if self._over_hourly_limit():
            return _limit_response(HOURLY_LIMIT_MESSAGE, csv_mode)

        path = unquote(split.path).rstrip("/") or "/"
        try:
            if path == "/api/test":
                return _json_response(200, {"message": "You successfully sent a request"})
            if match := _PRICES_PATH.match(path):
                return self._prices(match.group(1).upper(), params, as_of, csv_mode)
            if match := _METADATA_PATH.match(path):
                return self._metadata(match.group(1).upper(), as_of)
        except BadRequest as error:
            return _json_response(400, {"detail": f"Error: {error}"})
        return _json_response(404, {"detail": "Not found."})

    def _take_fault(self, raw_path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path_contains is None or fault.path_contains in raw_path:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_token(
        self, headers: Mapping[str, str], params: Mapping[str, str]
    ) -> _Response | None:
        supplied = params.get("token")
        authorization = next(
            (value for name, value in headers.items() if name.lower() == "authorization"), ""
        )
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "token":
            supplied = credentials.strip()
        if not supplied:
            return _json_response(403, {"detail": "Please supply a token"})
        if supplied != self._token:
            return _json_response(self._invalid_token_status, {"detail": "Invalid token."})
        return None

    def _over_hourly_limit(self) -> bool:
        if self._hourly_request_limit is None:
            return False
        with self._lock:
            if time.monotonic() - self._hour_started >= HOUR_SECONDS:
                self._hour_started = time.monotonic()
                self._requests_this_hour = 0
            self._requests_this_hour += 1
            return self._requests_this_hour > self._hourly_request_limit

    def _metadata(self, ticker: str, as_of: date) -> _Response:
        if not self.market.has_ticker(ticker):
            return _json_response(404, {"detail": "Not found."})
        return _json_response(200, self.market.metadata(ticker, as_of))

    def _prices(
        self, ticker: str, params: Mapping[str, str], as_of: date, csv_mode: bool
    ) -> _Response:
        if not self.market.has_ticker(ticker):
            message = f"Error: Ticker '{ticker}' not found"
            return _text_response(message) if csv_mode else _json_response(404, {"detail": message})
        bars = self.market.adjusted(ticker, as_of, decimals=None)
        historical = "startDate" in params or "endDate" in params
        if historical:
            start = _parse_date("startDate", params.get("startDate")) or date.min
            # Nothing exists after as_of; clamping also keeps period arithmetic in range.
            end = min(_parse_date("endDate", params.get("endDate")) or as_of, as_of)
            frequency = params.get("resampleFreq", "daily").lower()
            if frequency not in RESAMPLE_FREQUENCIES:
                raise BadRequest(f"resampleFreq must be one of {', '.join(RESAMPLE_FREQUENCIES)}")
            if frequency != "daily":
                bars = _resample(bars, frequency, start, end)
            else:
                bars = [bar for bar in bars if start <= bar.date <= end]
            keys = HISTORICAL_KEYS
        else:
            bars = bars[-1:]
            keys = LATEST_KEYS
        if params.get("sort", "").strip() == "-date":
            bars = bars[::-1]
        columns = _columns(params.get("columns"))
        if csv_mode:
            return _Response(200, _csv_body(bars, _select(HISTORICAL_KEYS, columns)), _CSV)
        date_suffix = "T00:00:00.000Z" if historical else "T00:00:00+00:00"
        rows = [_json_row(bar, _select(keys, columns), date_suffix) for bar in bars]
        return _json_response(200, rows)


def _fault_response(kind: str, csv_mode: bool) -> _Response:
    if kind == "http_500":
        return _Response(500, NGINX_500_PAGE.encode(), _HTML)
    if kind == "http_503":
        return _Response(503, b"", _HTML)
    if kind == "rate_limit_429":
        return _limit_response(HOURLY_LIMIT_MESSAGE, csv_mode)
    if kind == "bandwidth_429":
        return _limit_response(BANDWIDTH_LIMIT_MESSAGE, csv_mode)
    return _text_response(SYMBOL_LIMIT_MESSAGE)


def _limit_response(message: str, csv_mode: bool) -> _Response:
    # Tiingo's CSV API answers every rate cap with HTTP 200 and plain text (tiingo_api.md §6).
    return _text_response(message) if csv_mode else _json_response(429, {"detail": message})


def _parse_date(name: str, value: str | None) -> date | None:
    """Accepts ``2024-01-31`` and Tiingo's unpadded ``2024-1-31``."""
    if value is None:
        return None
    try:
        year, month, day = (int(part) for part in value.strip().split("-"))
        return date(year, month, day)
    except ValueError as error:
        raise BadRequest(f"{name} must be a date like 2024-01-31, got {value!r}") from error


def _columns(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()} | {"date"}


def _select(keys: Sequence[str], columns: set[str] | None) -> tuple[str, ...]:
    return tuple(key for key in keys if columns is None or key in columns)


def _field_values(bar: AdjustedBar, decimals: int | None) -> dict[str, object]:
    """Field values as Tiingo prints them; JSON rounds adjusted values, CSV keeps full precision."""

    def adjusted(value: float) -> float:
        return value if decimals is None else round(value, decimals)

    return {
        "close": bar.close,
        "high": bar.high,
        "low": bar.low,
        "open": bar.open,
        "volume": bar.volume,
        "adjClose": adjusted(bar.adj_close),
        "adjHigh": adjusted(bar.adj_high),
        "adjLow": adjusted(bar.adj_low),
        "adjOpen": adjusted(bar.adj_open),
        # An integer unless a reverse split made it fractional (tiingo_api.md §3.1).
        "adjVolume": int(bar.adj_volume)
        if float(bar.adj_volume).is_integer()
        else adjusted(bar.adj_volume),
        "divCash": float(bar.div_cash),
        "splitFactor": float(bar.split_factor),
    }


def _json_row(bar: AdjustedBar, keys: Sequence[str], date_suffix: str) -> dict[str, object]:
    values = _field_values(bar, TIINGO_JSON_DECIMALS)
    values["date"] = bar.date.isoformat() + date_suffix
    return {key: values[key] for key in keys}


def _csv_body(bars: Sequence[AdjustedBar], keys: Sequence[str]) -> bytes:
    lines = [",".join(keys)]
    for bar in bars:
        values = _field_values(bar, None)
        values["date"] = bar.date
        lines.append(",".join(str(values[key]) for key in keys))
    return ("\n".join(lines) + "\n").encode()


def _period_bounds(day: date, frequency: str) -> tuple[date, date]:
    """The Monday-Friday period containing ``day``: (first day, label day)."""
    if frequency == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=4)
    if frequency == "monthly":
        first = day.replace(day=1)
        next_month = (first + timedelta(days=32)).replace(day=1)
        return first, _last_weekday_before(next_month)
    first = date(day.year, 1, 1)
    return first, _last_weekday_before(date(day.year + 1, 1, 1))


def _last_weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _resample(
    bars: Sequence[AdjustedBar], frequency: str, start: date, end: date
) -> list[AdjustedBar]:
    """Tiingo's weekly/monthly/annual bars (tiingo_api.md §2.2): whole periods, end-labelled."""
    first_day = _period_bounds(start, frequency)[0]
    last_day = _period_bounds(end, frequency)[1]
    groups: dict[date, list[AdjustedBar]] = {}
    for bar in bars:
        if first_day <= bar.date <= last_day:
            groups.setdefault(_period_bounds(bar.date, frequency)[1], []).append(bar)
    resampled = []
    for label, members in groups.items():
        last = members[-1]
        price_factor = last.adj_close / last.close
        open_, high = members[0].open, max(bar.high for bar in members)
        low, close = min(bar.low for bar in members), last.close
        split_factor = 1.0
        for bar in members:
            split_factor *= bar.split_factor
        resampled.append(
            AdjustedBar(
                date=label,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=sum(bar.volume for bar in members),
                adj_open=open_ * price_factor,
                adj_high=high * price_factor,
                adj_low=low * price_factor,
                adj_close=last.adj_close,
                adj_volume=sum(bar.adj_volume for bar in members),
                div_cash=sum(bar.div_cash for bar in members),
                split_factor=split_factor,
            )
        )
    return resampled


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    app: SampleTiingoServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out on a "slow" fault close the socket mid-reply; that is expected.
        # Anything else is a bug in the fake and keeps the default traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "nginx"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes on a kept-alive connection; with Nagle's algorithm
    # the body waits for the client's delayed ACK of the headers, about 40 ms per response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        response = self.server.app.handle(self.command, self.path, dict(self.headers.items()))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Vary", "Accept, Cookie, Origin")
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        # Quiet by default: request lines would clutter test output.
        pass


def serve(host: str, port: int, token: str, as_of: date | None) -> None:
    """Serve the default sample market until interrupted (``equity-analytics serve-sample``)."""
    with SampleTiingoServer(
        SampleMarket(), token=token, as_of=as_of, host=host, port=port
    ) as server:
        print(
            f"Synthetic Tiingo sample at {server.base_url} (as of {server.as_of}); Ctrl+C stops.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
