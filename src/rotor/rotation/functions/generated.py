"""``generated-password``: a fresh random password on every rotation, nothing else to update.

new: generates a password per the secret's password policy (rotation parameters
``PasswordLength``, ``ExcludeCharacters``, ``ExcludeUppercase``, ``ExcludeLowercase``,
``ExcludeNumbers``, ``ExcludePunctuation``, ``IncludeSpace``,
``RequireEachIncludedType``). When Current is a JSON object the password goes into
its field ``PasswordField`` (default ``AccountPassword``) and every other field is
kept; otherwise the password is the whole value. set and test do nothing; end
moves Current.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rotor import errors
from rotor.rotation.functions.base import InvocationContext, options_of, step_of, version_of
from rotor.store import passwords, stages

_POLICY = {
    "PasswordLength": ("length", int),
    "ExcludeCharacters": ("exclude_characters", str),
    "ExcludeUppercase": ("exclude_uppercase", bool),
    "ExcludeLowercase": ("exclude_lowercase", bool),
    "ExcludeNumbers": ("exclude_numbers", bool),
    "ExcludePunctuation": ("exclude_punctuation", bool),
    "IncludeSpace": ("include_space", bool),
    "RequireEachIncludedType": ("require_each_included_type", bool),
}


#: The password policy's parameters, read by every function that generates passwords.
POLICY_PARAMETERS = frozenset(_POLICY)


def check_password_policy(parameters: Mapping[str, Any], **defaults: Any) -> None:
    """InvalidParameter when ``parameters`` (over ``defaults``) make no valid password."""
    passwords.generate_password(**password_policy({**defaults, **parameters}))


def password_policy(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :func:`passwords.generate_password` from rotation parameters."""
    policy: dict[str, Any] = {}
    for key, (argument, kind) in _POLICY.items():
        if key not in parameters:
            continue
        raw = parameters[key]
        if kind is bool:
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                raw = raw.lower() == "true"
            if not isinstance(raw, bool):
                raise errors.InvalidParameter(f"{key} must be true or false")
        elif kind is int:
            try:
                raw = int(raw)
            except (TypeError, ValueError):
                raise errors.InvalidParameter(f"{key} must be an integer") from None
        elif not isinstance(raw, str):
            raise errors.InvalidParameter(f"{key} must be a string")
        policy[argument] = raw
    return policy


class GeneratedPassword:
    PARAMETERS = POLICY_PARAMETERS | {"PasswordField"}

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        check_password_policy(parameters)
        field = parameters.get("PasswordField")
        if field is not None and (not isinstance(field, str) or not field):
            raise errors.InvalidParameter("PasswordField must be the name of a field")

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        step = step_of(event)
        name = context.secrets.secret_name
        version = version_of(event, context)
        if step == "new":
            self._new(event, context, name, version)
        elif step == "end":
            context.secrets.finish(name, version, expected_current=context.expected_current)
        return {"VersionId": version}

    def _new(
        self, event: dict[str, Any], context: InvocationContext, name: str, version: str
    ) -> None:
        access = context.secrets
        if access.find_value(name, version_id=version) is not None:
            return
        options = options_of(event, context)
        password = passwords.generate_password(**password_policy(options))
        current = access.find_value(name, stage=stages.CURRENT)
        value: str = password
        if current is not None and isinstance(current.value, str):
            try:
                parsed = json.loads(current.value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                field = str(options.get("PasswordField") or "AccountPassword")
                parsed[field] = password
                value = json.dumps(parsed)
        access.put_pending(name, value, version)
