"""The server's log lines: one format for every line the process logs, text or JSON.

``rotor serve`` configures the root logger once (:func:`configure`): one handler on
stderr, which rotor's loggers, uvicorn's (told to install none of its own) and the
libraries' (alembic, SQLAlchemy, httpx, Python's warnings) all propagate to. So a
node's log is in one format a log collector can parse, and each line names the node,
the request it was logged for and the rotation it concerns
(:mod:`rotor.log_context`), whoever logged it.

- ``text`` (the default), for a terminal: ``2026-12-03 06:41:26,524 INFO [node]
  logger: message`` and `` request_id=... rotation_id=... secret=...`` when set; a
  traceback follows on the next lines.
- ``json``: one object per line, ``time`` (RFC 3339, UTC), ``level``, ``logger``,
  ``message``, ``node``, then ``request_id``, ``rotation_id`` and ``secret`` when set;
  a line logged with an exception (an unexpected error, a 5xx's cause) adds
  ``exc_type`` and ``traceback`` (Python's own rendering: no local variables).

Every line passes the redaction filter (:mod:`rotor.api.log_redaction`) first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from typing import Any

from rotor import errors, log_context
from rotor.api.log_redaction import RedactionFilter
from rotor.settings import Settings

FORMATS = ("text", "json")

log = logging.getLogger("rotor.server")


class ContextFilter(logging.Filter):
    """Stamps a record with the request and rotation it was logged for, in the thread
    that logs it (a field given as ``extra=`` is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context.current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    fields = ((name, getattr(record, name, None)) for name in log_context.FIELDS)
    return {name: str(value) for name, value in fields if value is not None and value != ""}


class TextFormatter(logging.Formatter):
    """The text line, as rotor always wrote it, with the request and rotation after it."""

    def __init__(self, node: str) -> None:
        escaped = node.replace("%", "%%")
        super().__init__(f"%(asctime)s %(levelname)s [{escaped}] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = "".join(f" {name}={value}" for name, value in _context_of(record).items())
        return super().formatMessage(record) + context


class JsonFormatter(logging.Formatter):
    """One JSON object per line; newlines in a message or a traceback are escaped."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "node": self.node,
            **_context_of(record),
        }
        if record.exc_info:
            kind = record.exc_info[0]
            if kind is not None:
                line["exc_type"] = _qualified_name(kind)
            line["traceback"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def _rfc3339(created: float) -> str:
    at = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def formatter(log_format: str, node: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``text`` or ``json``); InvalidParameter otherwise."""
    if log_format.lower() == "json":
        return JsonFormatter(node)
    if log_format.lower() == "text":
        return TextFormatter(node)
    raise errors.InvalidParameter(
        f"log format {log_format!r} is neither text nor json (ROTOR_LOG_FORMAT, --log-format)"
    )


def handler(settings: Settings) -> logging.Handler:
    """The one handler of the process: stderr, the context and redaction filters, the
    format of ``settings.log_format``."""
    stream = logging.StreamHandler(sys.stderr)
    stream.addFilter(ContextFilter())
    stream.addFilter(RedactionFilter())
    stream.setFormatter(formatter(settings.log_format, settings.node))
    return stream


def configure(settings: Settings) -> None:
    """Make the root logger's handler the only one of the process (each worker process
    calls it too), at ``settings.log_level``."""
    new = handler(settings)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(new)
    root.setLevel(settings.log_level.upper())
    # Python's warnings (SQLAlchemy's among them) become lines of the logger py.warnings.
    logging.captureWarnings(True)
    threading.excepthook = _uncaught_in_thread


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    """A thread that died of an exception says so in the log's format, not on raw stderr."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error(
        "thread %s stopped on an uncaught exception",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
