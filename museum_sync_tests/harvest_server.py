"""A real local HTTP server for harvest tests: OAI-PMH and AIC-style JSON pages from the shared data.

It listens on 127.0.0.1 (port 0, a thread) and serves real responses:

- ``/oai``: ``Identify``, ``ListSets`` and ``ListMetadataFormats`` are the Erasmus University DSpace
  captures (``eur_dspace_*``), with ``granularity``/``deletedRecord`` rewritten when a test asks and a
  ``lido`` format added to ``ListMetadataFormats`` (DSpace offered only oai_dc). ``ListRecords`` serves
  the 20 KENOM LIDO records of ``kenom_ListRecords_lido.xml`` (``metadataPrefix=lido``) or the 16 DSpace
  records (``oai_dc``) in pages of ``page_size``: each page is the capture's own bytes (prolog up to
  ``<ListRecords>``, the records' exact bytes) plus a resumption token of ours; ``set``, ``from`` and
  ``until`` filter on the records' real setSpecs and datestamps, and arguments finer than the
  repository's granularity get ``badArgument``. Records named in ``deletions`` are served as
  ``status="deleted"`` headers with the given datestamp (a repository with persistent deletions).
  Errors are the Sickle captures (``noRecordsMatch``, ``badResumptionToken``,
  ``cannotDisseminateFormat``) or, for codes no capture has, the same shape built here.
- ``/sickle/oai``: the Sickle ``ListRecords`` capture with a deleted record; its token
  (``ListRecords2.xml``, a page Sickle never shipped) is answered per ``sickle_next``: ``"end"`` serves
  the capture with the token emptied (the list ends on the first page), ``"bad"`` answers the token with
  the ``badResumptionToken`` capture.
- ``/aic/artworks`` and ``/aic/artworks/search``: the AIC artwork records of ``json/aic_artwork_*.json``
  in AIC's page shape (``{"pagination": {..., "next_url"}, "data": [...], "info", "config"}``); search
  filters on ``query[range][updated_at][gte]`` and, like AIC search, has no ``next_url``.

Faults are injected per request (``inject``) and every request is logged (``requests``, with its
headers), so tests can assert what a client did: which pages it fetched, how often, what it sent, and that
it never fetched an entity URL. ``hold`` parks matching requests until released (to SIGKILL a harvester at
a known page). A redirect is a ``status`` fault with a ``Location`` header.

The repository's clock and edits are test controls too: ``response_date`` replaces every OAI
``responseDate`` (the night a harvest runs), and ``touch(identifier, datestamp)`` changes a record's
datestamp (a record edited since), so incremental windows can be tested across nights.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "Fault",
    "HarvestServer",
    "Hold",
    "LoggedRequest",
    "OaiRecordSlice",
    "billion_laughs",
    "external_dtd",
    "external_entity",
    "parameter_entity",
]

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"

_RECORD = re.compile(rb"<record>.*?</record>", re.DOTALL)
_IDENTIFIER = re.compile(rb"<identifier>([^<]*)</identifier>")
_DATESTAMP = re.compile(rb"<datestamp>([^<]*)</datestamp>")
_SETSPEC = re.compile(rb"<setSpec>([^<]*)</setSpec>")
_TOKEN_ELEMENT = re.compile(rb"\s*<resumptionToken[^>]*?(?:/>|>[^<]*</resumptionToken>)")
_LIDO_FORMAT = (
    b"<metadataFormat><metadataPrefix>lido</metadataPrefix>"
    b"<schema>http://www.lido-schema.org/schema/v1.0/lido-v1.0.xsd</schema>"
    b"<metadataNamespace>http://www.lido-schema.org</metadataNamespace></metadataFormat>"
)


@dataclass(frozen=True)
class LoggedRequest:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float

    def matches(self, path: str | None, params: Mapping[str, str] | None) -> bool:
        if path is not None and self.path != path:
            return False
        # "*" matches any value of a parameter that is present (e.g. any resumptionToken).
        return all(self.params.get(k) == v or (v == "*" and k in self.params) for k, v in (params or {}).items())


@dataclass
class Fault:
    """What to do instead of (or before) the normal answer, for the next ``times`` matching requests."""

    kind: str
    path: str | None = None
    params: dict[str, str] | None = None
    times: int | None = 1  # None: every matching request
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    size: int = 0
    body: bytes = b""
    content_type: str = "text/xml; charset=utf-8"
    hits: int = 0


@dataclass
class Hold:
    """Parks matching requests until ``release()``; ``arrived`` is set when the first one comes in."""

    path: str | None
    params: dict[str, str] | None
    after: int = 0  # let this many matching requests through first
    seen: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass(frozen=True)
class OaiRecordSlice:
    identifier: str
    datestamp: str
    sets: tuple[str, ...]
    raw: bytes


def _parse_stamp(text: str) -> datetime:
    text = text.strip()
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _OaiList:
    """A ListRecords capture cut into its prolog and records' exact bytes."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        start = data.index(b"<ListRecords>") + len(b"<ListRecords>")
        self.prolog = data[:start]
        self.records = [
            OaiRecordSlice(
                identifier=_IDENTIFIER.search(m.group(0)).group(1).decode(),  # type: ignore[union-attr]
                datestamp=_DATESTAMP.search(m.group(0)).group(1).decode(),  # type: ignore[union-attr]
                sets=tuple(s.decode() for s in _SETSPEC.findall(m.group(0))),
                raw=m.group(0),
            )
            for m in _RECORD.finditer(data, start)
        ]
        self.newline = b"\n    " if b"\n    <record>" in data else b"\n"


class HarvestServer:
    """Start with ``with HarvestServer(shared_data) as server:``; URLs: ``oai_url``, ``sickle_url``, ``aic_url``."""

    def __init__(
        self,
        data: Path,
        *,
        page_size: int = 5,
        json_page_size: int = 3,
        granularity: str = SECONDS,
        deletions: Mapping[str, str] | None = None,
        repeat: int = 1,
        sickle_next: str = "end",
        require_header: tuple[str, str] | None = None,
    ) -> None:
        self.data = Path(data)
        oai = self.data / "oaipmh"
        self.page_size = page_size
        self.json_page_size = json_page_size
        self.granularity = granularity
        self.deletions = dict(deletions or {})
        self.sickle_next = sickle_next
        self.require_header = require_header
        self.response_date: str | None = None  # replaces every OAI responseDate when set
        self.lists = {
            "lido": _OaiList(oai / "kenom_ListRecords_lido.xml"),
            "oai_dc": _OaiList(oai / "eur_dspace_ListRecords_oai_dc_2003.xml"),
        }
        if repeat > 1:
            for lst in self.lists.values():
                lst.records = lst.records * repeat
        self.files = {
            "Identify": (oai / "eur_dspace_Identify.xml").read_bytes(),
            "ListMetadataFormats": (oai / "eur_dspace_ListMetadataFormats.xml").read_bytes(),
            "ListSets": (oai / "eur_dspace_ListSets.xml").read_bytes(),
            "sickle": (oai / "edge" / "sickle_ListRecords_with_deleted.xml").read_bytes(),
            "badResumptionToken": (oai / "edge" / "sickle_error_badResumptionToken.xml").read_bytes(),
            "noRecordsMatch": (oai / "edge" / "sickle_error_noRecordsMatch.xml").read_bytes(),
            "cannotDisseminateFormat": (oai / "edge" / "sickle_error_cannotDisseminateFormat.xml").read_bytes(),
        }
        self.artworks = sorted(
            (json.loads(p.read_text(encoding="utf-8")) for p in (self.data / "json").glob("aic_artwork_*.json")),
            key=lambda a: int(a["id"]),
        )
        self.aic_info = json.loads((self.data / "json" / "aic_info.json").read_text(encoding="utf-8"))
        self.aic_config = json.loads((self.data / "json" / "aic_config.json").read_text(encoding="utf-8"))
        if repeat > 1:
            self.artworks = self.artworks * repeat
        self.requests: list[LoggedRequest] = []
        self.errors: list[str] = []
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._tokens: dict[str, tuple[int, str, dict[str, str], int]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> HarvestServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="harvest-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for hold in self._holds:
            hold.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HarvestServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def oai_url(self) -> str:
        return self.base_url + "/oai"

    @property
    def sickle_url(self) -> str:
        return self.base_url + "/sickle/oai"

    @property
    def aic_url(self) -> str:
        return self.base_url + "/aic/artworks"

    # -- test controls -----------------------------------------------------------------------------

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind=kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hold(self, *, path: str | None = None, params: Mapping[str, str] | None = None, after: int = 0) -> Hold:
        hold = Hold(path=path, params=dict(params) if params else None, after=after)
        with self._lock:
            self._holds.append(hold)
        return hold

    def touch(self, identifier: str, datestamp: str) -> None:
        """Give record ``identifier`` a new datestamp (as if it was edited then), in every list serving it."""
        with self._lock:
            for lst in self.lists.values():
                for i, record in enumerate(lst.records):
                    if record.identifier == identifier:
                        raw = _DATESTAMP.sub(f"<datestamp>{datestamp}</datestamp>".encode(), record.raw, count=1)
                        lst.records[i] = OaiRecordSlice(identifier, datestamp, record.sets, raw)

    def expire_tokens(self) -> None:
        """Every resumption token handed out so far is now answered with ``badResumptionToken``."""
        with self._lock:
            self._generation += 1

    def token_for_page(self, page: int, **query: str) -> str | None:
        """The token the server handed out for ``page`` (0-based) of the list with ``query``."""
        with self._lock:
            for token, (_gen, _prefix, q, index) in self._tokens.items():
                if index == page and all(q.get(k) == v for k, v in query.items()):
                    return token
        return None

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(self, *, path: str | None = None, **params: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.matches(path, params))

    def logged(self, *, path: str | None = None, **params: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.matches(path, params)]

    # -- request handling (called from handler threads) --------------------------------------------

    def _log(self, request: LoggedRequest) -> tuple[Fault | None, Hold | None]:
        with self._lock:
            self.requests.append(request)
            fault = None
            for candidate in self._faults:
                if candidate.times is not None and candidate.hits >= candidate.times:
                    continue
                if request.matches(candidate.path, candidate.params):
                    candidate.hits += 1
                    fault = candidate
                    break
            hold = None
            for candidate_hold in self._holds:
                if request.matches(candidate_hold.path, candidate_hold.params):
                    candidate_hold.seen += 1
                    if candidate_hold.seen > candidate_hold.after:
                        hold = candidate_hold
                        break
        return fault, hold

    def oai_response(self, path: str, params: dict[str, str]) -> bytes:
        body = self._oai_response(path, params)
        if self.response_date is not None:
            stamp = f"<responseDate>{self.response_date}</responseDate>".encode()
            body = re.sub(rb"<responseDate>[^<]*</responseDate>", stamp, body, count=1)
        return body

    def _oai_response(self, path: str, params: dict[str, str]) -> bytes:
        verb = params.get("verb")
        if path == "/sickle/oai" and verb == "ListRecords":
            return self._sickle(params)
        if verb == "Identify":
            body = self.files["Identify"]
            body = body.replace(
                b"<granularity>" + SECONDS.encode() + b"</granularity>",
                f"<granularity>{self.granularity}</granularity>".encode(),
            )
            if self.deletions:
                body = body.replace(b"<deletedRecord>no</deletedRecord>", b"<deletedRecord>persistent</deletedRecord>")
            return body
        if verb == "ListMetadataFormats":
            return self.files["ListMetadataFormats"].replace(
                b"</ListMetadataFormats>", _LIDO_FORMAT + b"</ListMetadataFormats>"
            )
        if verb == "ListSets":
            return self.files["ListSets"]
        if verb == "ListRecords":
            return self._list_records(params)
        return self._error("badVerb", f"illegal verb {verb!r}")

    def _error(self, code: str, message: str = "") -> bytes:
        if code in self.files and not message:
            return self.files[code]
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI_NS}"><responseDate>{stamp}</responseDate>'
            f'<request>{self.oai_url}</request><error code="{code}">{message}</error></OAI-PMH>'
        ).encode()

    def _sickle(self, params: dict[str, str]) -> bytes:
        body = self.files["sickle"]
        if "resumptionToken" in params:
            return self.files["badResumptionToken"]
        if self.sickle_next == "end":
            return body.replace(b">ListRecords2.xml</resumptionToken>", b"></resumptionToken>")
        return body

    def _check_stamp(self, value: str | None) -> str | None:
        if value is None:
            return None
        day = re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
        seconds = re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value)
        if day or (seconds and self.granularity == SECONDS):
            return None
        return f"bad datestamp {value!r} for granularity {self.granularity}"

    def _list_records(self, params: dict[str, str]) -> bytes:
        token = params.get("resumptionToken")
        with self._lock:
            if token is not None:
                entry = self._tokens.get(token)
                if entry is None or entry[0] != self._generation or set(params) != {"verb", "resumptionToken"}:
                    return self._error("badResumptionToken")
                _, prefix, query, page = entry
            else:
                prefix = params.get("metadataPrefix", "")
                query = {k: v for k, v in params.items() if k in ("metadataPrefix", "set", "from", "until")}
                page = 0
        if token is None:
            if prefix not in self.lists:
                return self._error("cannotDisseminateFormat")
            for name in ("from", "until"):
                problem = self._check_stamp(params.get(name))
                if problem:
                    return self._error("badArgument", problem)
        records = self._select(prefix, query)
        if not records:
            return self._error("noRecordsMatch")
        lst = self.lists[prefix]
        start = page * self.page_size
        chunk = records[start : start + self.page_size]
        parts = [lst.prolog]
        for record in chunk:
            parts.append(lst.newline)
            if record.identifier in self.deletions:
                parts.append(
                    f'<record><header status="deleted"><identifier>{record.identifier}</identifier>'
                    f"<datestamp>{self.deletions[record.identifier]}</datestamp></header></record>".encode()
                )
            else:
                parts.append(record.raw)
        end = start + len(chunk)
        attrs = f'completeListSize="{len(records)}" cursor="{start}"'
        if end < len(records):
            with self._lock:
                new = f"tok-{self._generation}-{len(self._tokens) + 1}-p{page + 1}"
                self._tokens[new] = (self._generation, prefix, query, page + 1)
            parts.append(f"{lst.newline.decode()}<resumptionToken {attrs}>{new}</resumptionToken>".encode())
        elif page > 0:
            parts.append(f"{lst.newline.decode()}<resumptionToken {attrs}/>".encode())
        parts.append(b"\n  </ListRecords>\n</OAI-PMH>\n")
        return b"".join(parts)

    def _select(self, prefix: str, query: Mapping[str, str]) -> list[OaiRecordSlice]:
        out = []
        since = _parse_stamp(query["from"]) if "from" in query else None
        until = _parse_stamp(query["until"]) if "until" in query else None
        if until is not None and len(query["until"]) == 10:
            until = until.replace(hour=23, minute=59, second=59, microsecond=999999)
        for record in self.lists[prefix].records:
            stamp = _parse_stamp(self.deletions.get(record.identifier, record.datestamp))
            if since is not None and stamp < since:
                continue
            if until is not None and stamp > until:
                continue
            if "set" in query and query["set"] not in record.sets:
                continue
            out.append(record)
        return out

    def json_response(self, path: str, params: dict[str, str]) -> bytes:
        limit = int(params.get("limit", self.json_page_size))
        page = int(params.get("page", "1"))
        items = self.artworks
        search = path.endswith("/search")
        if search:
            since = params.get("query[range][updated_at][gte]")
            if since:
                threshold = _parse_stamp(since)
                items = [a for a in items if _parse_stamp(a["updated_at"]) >= threshold]
            fields = params.get("fields")
            if fields:
                wanted = fields.split(",")
                items = [{k: a[k] for k in wanted if k in a} for a in items]
        total = len(items)
        pages = max(1, -(-total // limit))
        offset = int(params["offset"]) if "offset" in params else (page - 1) * limit
        data = items[offset : offset + limit]
        pagination: dict[str, Any] = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "total_pages": pages,
            "current_page": page,
        }
        if not search:
            base = self.base_url + path
            keep = {k: v for k, v in params.items() if k != "page"}
            pagination["prev_url"] = f"{base}?{urlencode({**keep, 'page': page - 1})}" if page > 1 else None
            pagination["next_url"] = f"{base}?{urlencode({**keep, 'page': page + 1})}" if page < pages else None
        doc = {
            "pagination": pagination,
            "data": data,
            "info": self.aic_info.get("artworks", {}),
            "config": self.aic_config,
        }
        return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


# XML attack payloads: each would read a file, fetch a URL or explode in memory if a parser obliged.
def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH [\n' + "\n".join(levels) + "\n]>\n"
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2024-07-16T16:03:49Z</responseDate><ListRecords><record>'
        "<header><identifier>lol</identifier><datestamp>2024-01-01</datestamp></header><metadata>"
        '<lido:lido xmlns:lido="http://www.lido-schema.org"><lido:lidoRecID>&lol9;</lido:lidoRecID></lido:lido>'
        "</metadata></record></ListRecords></OAI-PMH>\n"
    ).encode()


def external_entity(system_id: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "{system_id}">]>\n'
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2024-07-16T16:03:49Z</responseDate><ListRecords><record>'
        "<header><identifier>xxe</identifier><datestamp>2024-01-01</datestamp></header><metadata>"
        '<lido:lido xmlns:lido="http://www.lido-schema.org"><lido:lidoRecID>&xxe;</lido:lidoRecID></lido:lido>'
        "</metadata></record></ListRecords></OAI-PMH>\n"
    ).encode()


def external_dtd(dtd_url: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH SYSTEM "{dtd_url}">\n'
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2024-07-16T16:03:49Z</responseDate><ListRecords><record>'
        "<header><identifier>dtd</identifier><datestamp>2024-01-01</datestamp></header><metadata>"
        '<lido:lido xmlns:lido="http://www.lido-schema.org"><lido:lidoRecID>&remote;</lido:lidoRecID></lido:lido>'
        "</metadata></record></ListRecords></OAI-PMH>\n"
    ).encode()


def parameter_entity(dtd_url: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH [<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>\n'
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2024-07-16T16:03:49Z</responseDate><ListRecords>'
        "</ListRecords></OAI-PMH>\n"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HarvestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import traceback

        self.owner.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    owner: HarvestServer
    protocol_version = "HTTP/1.1"
    server_version = "museum-sync-test-harvest-server/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        return

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass  # the client went away (a test killed it, or a timeout fired): nothing to answer

    def finish(self) -> None:
        try:
            super().finish()
        except (ConnectionError, OSError, ValueError):
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        owner = self.owner
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = LoggedRequest(split.path, params, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        fault, hold = owner._log(request)
        if hold is not None:
            hold.arrived.set()
            hold.released.wait(timeout=60)
        if owner.require_header is not None:
            name, value = owner.require_header
            if self.headers.get(name) != value:
                self._send(401, b'{"error": "unauthorized"}', "application/json")
                return
        if fault is not None and self._fault(fault, split.path, params):
            return
        if split.path in ("/oai", "/sickle/oai"):
            self._send(200, owner.oai_response(split.path, params), "text/xml; charset=utf-8")
        elif split.path in ("/aic/artworks", "/aic/artworks/search"):
            self._send(200, owner.json_response(split.path, params), "application/json")
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _normal(self, path: str, params: dict[str, str]) -> tuple[bytes, str]:
        if path.startswith("/aic"):
            return self.owner.json_response(path, params), "application/json"
        return self.owner.oai_response(path, params), "text/xml; charset=utf-8"

    def _fault(self, fault: Fault, path: str, params: dict[str, str]) -> bool:
        """Apply ``fault``; True when the response has been sent (or the connection dropped)."""
        kind = fault.kind
        if kind == "status":
            self._send(fault.status, fault.body or b"try again later", "text/plain", fault.headers)
        elif kind == "slow":
            time.sleep(fault.delay)
            body, ctype = self._normal(path, params)
            self._send(200, body, ctype)
        elif kind == "reset":
            body, ctype = self._normal(path, params)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            # RST instead of FIN: the client sees "connection reset" mid-body.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif kind == "truncate":
            body, ctype = self._normal(path, params)
            cut = body[: len(body) // 2]
            self._send(200, cut, ctype)
        elif kind == "big":
            self.send_response(200)
            self.send_header("Content-Type", fault.content_type)
            self.send_header("Transfer-Encoding", "chunked")  # no Content-Length: the limit must bite mid-stream
            self.end_headers()
            block = b"<!-- " + b"x" * 65000 + b" -->"
            sent = 0
            try:
                while sent < fault.size:
                    self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                    sent += len(block)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
        elif kind == "body":
            self._send(fault.status if fault.status != 503 else 200, fault.body, fault.content_type, fault.headers)
        else:
            raise ValueError(f"unknown fault {kind!r}")
        return True
