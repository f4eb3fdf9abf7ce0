"""A real local HTTP server for the IIIF tests and benchmark: ``../shared/data/iiif`` as manifest servers do.

It listens on 127.0.0.1 (port 0, a thread) and serves the shared manifests, cookbook recipes and validator
fixtures by their path under ``iiif/`` with the headers a manifest server sends:

- ``/m/<path>``: the file, ``Content-Type: application/ld+json``, a strong ``ETag`` (sha256 of the bytes)
  and a ``Last-Modified``; ``If-None-Match`` (or ``If-Modified-Since`` with no ETag) that matches gets
  ``304 Not Modified`` with no body;
- ``/slow/<seconds>/<path>``: the same after a sleep (a slow museum server; saturates the iiif pool);
- ``/flaky/<path>``: ``503`` with ``Retry-After: 0`` on the first request for that path, then the file;
- ``/status/<code>``: that status with a short body (``404``, ``410``, ``500``...);
- ``/redirect/<path>``: ``302`` to ``/m/<path>`` on this server;
- ``/redirect-private`` and ``/redirect-metadata``: ``302`` to a private address (``10.255.255.1``) and to
  the cloud metadata address, which the SSRF guard must refuse at that hop, before any connection;
- ``/v2``: a small IIIF Presentation 2.1 manifest.

Every request is logged (``requests``: path and headers) so tests assert what the fetcher sent (conditional
headers) and how many bodies went out (``bodies_sent``).
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["V2_MANIFEST", "IiifServer", "LoggedRequest", "iiif_profile", "with_manifest_links"]

V2_MANIFEST = {
    "@context": "http://iiif.io/api/presentation/2/context.json",
    "@id": "https://example.org/iiif/v2/manifest",
    "@type": "sc:Manifest",
    "label": "A Presentation 2.1 manifest",
    "sequences": [{"@type": "sc:Sequence", "canvases": []}],
}
_LAST_MODIFIED = email.utils.formatdate(1_700_000_000, usegmt=True)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up (slow responses): expected, not news


@dataclass(frozen=True)
class LoggedRequest:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class IiifServer:
    root: Path  # shared/data/iiif
    requests: list[LoggedRequest] = field(default_factory=list)
    bodies_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # most requests served at once (per-host bound tests)
    _flaky_seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, kind: str, path: str = "") -> str:
        return f"{self.base}/{kind}/{path}" if path else f"{self.base}/{kind}"

    def start(self) -> IiifServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, headers, body = server.answer(self.path, dict(self.headers))
                finally:
                    with server._lock:
                        server.in_flight -= 1
                with server._lock:
                    server.requests.append(LoggedRequest(self.path, dict(self.headers), status))
                    server.bodies_sent += bool(body) and status == 200
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> IiifServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bodies_sent = 0
            self.max_in_flight = 0

    def _file(self, rel: str, request_headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            return 404, {"Content-Type": "text/plain"}, b"no such manifest"
        content = path.read_bytes()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Last-Modified": _LAST_MODIFIED, "Cache-Control": "max-age=0"}
        lowered = {k.lower(): v for k, v in request_headers.items()}
        match = lowered.get("if-none-match")
        if match is not None and etag in [m.strip() for m in match.split(",")]:
            return 304, headers, b""
        if match is None and lowered.get("if-modified-since") == _LAST_MODIFIED:
            return 304, headers, b""
        return 200, {"Content-Type": "application/ld+json", **headers}, content

    def answer(self, raw_path: str, request_headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        kind, _, rest = raw_path.split("?", 1)[0].lstrip("/").partition("/")  # ?r=n: distinct URLs, same file
        if kind == "m":
            return self._file(rest, request_headers)
        if kind == "slow":
            seconds, _, rel = rest.partition("/")
            time.sleep(float(seconds))
            return self._file(rel, request_headers)
        if kind == "flaky":
            with self._lock:
                first = rest not in self._flaky_seen
                self._flaky_seen.add(rest)
            if first:
                return 503, {"Retry-After": "0", "Content-Type": "text/plain"}, b"busy"
            return self._file(rest, request_headers)
        if kind == "status":
            return int(rest), {"Content-Type": "text/plain"}, b"status as asked"
        if kind == "redirect":
            return 302, {"Location": f"/m/{rest}"}, b""
        if kind == "redirect-private":
            return 302, {"Location": "http://10.255.255.1/iiif/manifest.json"}, b""
        if kind == "redirect-metadata":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
        if kind == "v2":
            return 200, {"Content-Type": "application/json"}, json.dumps(V2_MANIFEST).encode()
        return 404, {"Content-Type": "text/plain"}, b"unknown path"


def iiif_profile(folder: Path) -> Path:
    """``tate_iiif_csv.toml`` in ``folder``: the shipped Tate CSV profile plus an ``iiif_manifest`` column."""
    from museum_sync.core.profiles import load_profile

    text = Path(load_profile("tate_artworks_csv").origin).read_text(encoding="utf-8")
    text = text.replace(
        '  { name = "rights",',
        '  { name = "iiif_manifest", type = "url", may_be_absent = true },\n  { name = "rights",',
    )
    text = text.replace("[map]\n", '[map]\niiif_manifest = "iiif_manifest"\n')
    path = folder / "tate_iiif_csv.toml"
    path.write_text(text, encoding="utf-8")
    return path


def with_manifest_links(source: str, target: Path, links: Sequence[str], *, edit: bool = False) -> Path:
    """``source`` (Tate CSV text) with an ``iiif_manifest`` column: row i links to ``links[i]`` (then none);
    ``edit``: the last title changed (same records, a new export)."""
    rows = list(csv.DictReader(io.StringIO(source)))
    for i, row in enumerate(rows):
        row["iiif_manifest"] = links[i] if i < len(links) else ""
    if edit:
        rows[-1]["title"] += " (revised)"
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    return target
