"""Redaction of log lines: credentials blanked out of every line the server writes.

rotor logs no value on purpose (a failed rotation's line carries its error code, the
rotation history keeps the message, redacted of the values it touched). This is the
defence in depth behind that rule, for a line that carries a credential anyway: a
driver's error quoting a database URL, a library logging a request's headers, a
handler's exception. It is a filter on the root handler, so it sees the lines of
every logger, and it knows shapes, not values:

- a URL's userinfo: ``postgresql://app:pw@db/app`` -> ``postgresql://***@db/app``;
- a bearer token: ``Bearer AKID.SECRET`` -> ``Bearer ***``;
- an ``Authorization`` header's value, whatever its scheme;
- a key/value pair whose key names a secret (``password=...``, ``"AccountPassword":
  "..."``, ``X-Rotor-Access-Key-Secret: ...``, ``SecurityToken=...``).

A secret with none of these shapes (a bare value) is not recognised: the rule above
is what keeps those out.
"""

from __future__ import annotations

import logging
import re
import traceback

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@]*(?:@[^\s/?#@]*)*@")
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[A-Za-z0-9._~+/=:-]+", re.IGNORECASE)
_AUTHORIZATION = re.compile(
    r"(?P<key>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*)(?P<quote>[\"']?)[^\"'\r\n,;}]+",
    re.IGNORECASE,
)
#: A key naming a secret (possibly inside a longer name: AccountPassword, access_key_secret,
#: X-Rotor-Security-Token), a ``=`` or ``:``, and its value (quoted or up to a delimiter).
_SECRET_PAIR = re.compile(
    r"(?P<key>[\w-]*(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key)[\"']?\s*[:=]\s*)"
    r"(?:(?P<quote>[\"'])(?:\\.|(?!(?P=quote))[^\\\n])*(?P=quote)?|[^\s,;&\"'})\]]+)",
    re.IGNORECASE,
)


def _pair(match: re.Match[str]) -> str:
    quote = match.group("quote") or ""
    return f"{match.group('key')}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """``text`` with every credential of a known shape replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _BEARER.sub(lambda m: f"{m.group('scheme')}{MASK}", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group('key')}{m.group('quote')}{MASK}", text)
    return _SECRET_PAIR.sub(_pair, text)


class RedactionFilter(logging.Filter):
    """Redacts a record's message, and its traceback, before any formatter sees them.

    The message is merged with its arguments first (a URL may be one of them), and the
    traceback is rendered here so that it is redacted too; the formatters use that text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad logging call: the handler reports it when it formats
            return True
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
