"""The secrets a ``ListSecrets`` or ``BatchGetSecretValue`` call with ``Filters`` chooses.

A filter is ``{"Key": ..., "Values": [...]}``; a secret is chosen when it passes every
filter. A filter passes a secret when one of its plain values matches (or it has none)
and none of its values given with a leading ``!`` (negation) does. As AWS documents:

- ``name``, ``tag-key``, ``tag-value``: the value is a prefix of the name, of a tag's key,
  of a tag's value (case-sensitive); ``description``: of the description, in any case;
- ``primary-region``, ``owning-service``: rotor does not replicate secrets, and no service
  owns one, so no plain value matches;
- ``all``: the value is broken into words (at a change of case, between letters and
  digits, at punctuation), and a word matches the start of a word of the name, the
  description or a tag, in any case.

Only the secrets the caller is allowed ``kms:ListSecrets`` on are ever looked at, so a
filter reveals nothing of the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import invalid_parameter
from rotor.store import secrets as secrets_store
from rotor.store.secrets import Secret

KEYS = frozenset(
    {"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}
)
_VALUE_RE = re.compile(r"!?[a-zA-Z0-9 :_@/+=.\-!]{0,512}")
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
MAX_FILTERS = 10
MAX_VALUES = 10

Check = Callable[[Secret], bool]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


def _matcher(key: str, value: str) -> Check:
    if key == "name":
        return lambda s: s.name.startswith(value)
    if key == "description":
        return lambda s: s.description.lower().startswith(value.lower())
    if key == "tag-key":
        return lambda s: any(k.startswith(value) for k in s.tags)
    if key == "tag-value":
        return lambda s: any(v.startswith(value) for v in s.tags.values())
    if key == "all":
        wanted = _words(value)

        def any_word(s: Secret) -> bool:
            texts = [s.name, s.description, *s.tags, *s.tags.values()]
            found = {w for text in texts for w in _words(text)}
            return any(f.startswith(w) for w in wanted for f in found)

        return any_word
    return lambda s: False  # primary-region, owning-service: rotor's secrets have neither


def _one(key: str, values: list[str]) -> Check:
    plain = [_matcher(key, v) for v in values if not v.startswith("!")]
    negated = [_matcher(key, v[1:]) for v in values if v.startswith("!")]
    return lambda s: (not plain or any(m(s) for m in plain)) and not any(m(s) for m in negated)


def parse(call: Call) -> Check:
    """The check of the call's ``Filters`` (none: every secret passes)."""
    filters = call.body.values.get("Filters") or []
    shape = (
        f"at most {MAX_FILTERS} of {{'Key': one of {sorted(KEYS)}, "
        f"'Values': [1 to {MAX_VALUES} values]}}"
    )
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise invalid_parameter("Filters", shape)
    checks: list[Check] = []
    for item in filters:
        values = item.get("Values") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or item.get("Key") not in KEYS
            or not isinstance(values, list)
            or not 1 <= len(values) <= MAX_VALUES
        ):
            raise invalid_parameter("Filters", shape)
        for value in values:
            if not isinstance(value, str) or not _VALUE_RE.fullmatch(value):
                raise invalid_parameter(
                    "Filters", f"{value!r}: letters, digits, spaces and :_@/+=.-! only"
                )
        checks.append(_one(item["Key"], values))
    return lambda s: all(check(s) for check in checks)


def chosen(call: Call, *, include_planned_deletion: bool = False) -> list[Secret]:
    """The secrets the caller may list that pass the call's filters, by name."""
    check = parse(call)
    return [
        s
        for s in secrets_store.every_secret(
            call.store, include_pending_deletion=include_planned_deletion
        )
        if call.identity.allows("kms:ListSecrets", call.resource(s.name)) and check(s)
    ]
