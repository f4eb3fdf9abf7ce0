"""One log format for every museum-sync process: JSON lines for machines, a readable line on a terminal.

``configure()`` is called once per process (the CLI's ``main``, a Celery worker's ``setup_logging`` signal, a
Dagster run through ``defs.loggers``): it puts one stdlib handler with structlog's ``ProcessorFormatter`` on the
root logger, so our own events (``log().info("chunk_quarantined", partition=...)``), Celery's and Dagster's
records come out the same way. Each line carries the fields an on-call engineer filters on (``FIELDS``), taken
from the event itself, from structlog's context variables (``bind()``: a worker binds ``worker``, a task
``task_id`` and ``run_id``, a step ``partition`` and ``export_id``) or from a Dagster record's own metadata.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from museum_sync.settings import get_settings

__all__ = ["FIELDS", "bind", "bound", "configure", "formatter", "log", "stream_handler", "unbind"]

# What every line may carry; a field a line has no value for is left out, not written as null.
FIELDS = ("run_id", "partition", "task_id", "export_id", "record_count", "schema_version", "worker", "event")
LOGGER = "museum_sync"
_HANDLER_NAME = "museum-sync"
_SCHEMA_VERSION = "LIDO 1.1, oai_dc 2.0"


def _dagster_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A Dagster log record's run, step and partition (``record.dagster_meta``), and its own message."""
    record = event.get("_record")
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict):
        return event
    event.setdefault("run_id", meta.get("run_id"))
    if meta.get("step_key"):
        event.setdefault("step", meta["step_key"])
    tags = meta.get("job_tags") or {}
    if tags.get("dagster/partition"):
        event.setdefault("partition", tags["dagster/partition"])
    dagster_event = meta.get("dagster_event")
    if dagster_event is not None:
        event["dagster_event"] = dagster_event.event_type_value
    if meta.get("orig_message"):
        event["event"] = meta["orig_message"]
    return {k: v for k, v in event.items() if v is not None}


def _schema_version(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "partition" in event or "export_id" in event:
        event.setdefault("schema_version", _SCHEMA_VERSION)
    return event


_FIRST = ("ts", "level", "event", "worker", "run_id", "task_id", "partition", "export_id", "record_count")


_MAX_EVENT = 2000  # Celery's "Task ... succeeded" line carries the whole serialized return value


def _fields_first(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The fields people filter on first, in one order, then the rest as given; an over-long message cut."""
    text = event.get("event")
    if isinstance(text, str) and len(text) > _MAX_EVENT:
        event["event"] = f"{text[:_MAX_EVENT]}... ({len(text)} characters)"
    return {**{k: event[k] for k in _FIRST if k in event}, **{k: v for k, v in event.items() if k not in _FIRST}}


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _schema_version,
    ]


def _wants_json(stream: TextIO) -> bool:
    fmt = get_settings().telemetry.log_format
    if fmt == "auto":
        return not (hasattr(stream, "isatty") and stream.isatty())
    return fmt == "json"


def formatter(*, json: bool) -> logging.Formatter:
    """The one formatter: structlog events and foreign (stdlib, Celery, Dagster) records alike."""
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=40)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            _dagster_fields,
            _schema_version,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _fields_first,
            renderer,
        ],
    )


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is written (a test's capture, a redirected CLI)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def stream_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``stream`` (default: the current stderr) in the configured format (JSON unless a
    terminal asks for console lines)."""
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(json=_wants_json(stream or sys.stderr)))
    return handler


def configure(*, stream: TextIO | None = None, libraries: str | None = None, force: bool = False) -> logging.Handler:
    """Install the handler on the root logger once (again with ``force``); returns it.

    The format follows ``MUSEUM_SYNC_LOG_FORMAT`` (``auto``: console on a terminal, JSON otherwise) and the level
    ``MUSEUM_SYNC_LOG_LEVEL``; ``libraries`` raises the level of every logger but museum-sync's own (the CLI keeps
    library chatter off the terminal with ``"WARNING"``; a worker logs Celery's task lines as before).
    """
    root = logging.getLogger()
    existing = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if existing is not None and not force:
        return existing
    if existing is not None:
        root.removeHandler(existing)
    handler = stream_handler(stream)
    root.addHandler(handler)
    level = get_settings().telemetry.log_level
    root.setLevel(max(logging.getLevelName(level), logging.getLevelName(libraries or level)))
    logging.getLogger(LOGGER).setLevel(level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler


def log(name: str = LOGGER) -> Any:
    """A structlog logger: ``log().info("chunk_validated", partition=..., record_count=...)``."""
    return structlog.stdlib.get_logger(name)


def bind(**fields: Any) -> None:
    """Fields every later line of this thread (or task) carries, until ``unbind``."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def unbind(*names: str) -> None:
    structlog.contextvars.unbind_contextvars(*names)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """``bind`` for the duration of a block (a step body), restoring what was bound before."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in fields.items() if v is not None}):
        yield
