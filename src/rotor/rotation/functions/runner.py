"""Runs one custom Python handler in its own process, the way a cloud function runtime does.

Started by :mod:`rotor.rotation.functions.python_handler` as ``python runner.py`` under
the function's own interpreter, which may not have rotor installed: this module uses
the standard library only and imports nothing from rotor.

Its input is a JSON file (mode 0600) named by ``ROTOR_RUNNER_INPUT``; it is read and
deleted before the handler is imported, and the variable is removed from the
environment. The input holds the event (JSON text), the handler (``module:function``
or ``path/to/file.py:function``), extra ``sys.path`` entries, the context fields and
the path of the result file.

The handler is called as ``handler(event, context)`` in the input's ``convention``:

- ``cloud-function``: ``event`` is the JSON text and ``context`` is shaped like the cloud
  function runtime's (``request_id`` / ``requestId``, ``credentials`` in both spellings,
  ``function.name``), plus ``rotor_url``;
- ``lambda``: ``event`` is the parsed JSON object and ``context`` is shaped like Lambda's
  (:class:`LambdaContext`).

The root logger writes to stderr at INFO. The outcome goes to the result file, never to
stdout, so the handler's own output cannot be mistaken for it::

    {"ok": true, "result": ...}
    {"ok": false, "kind": "load" | "exception" | "result", "type": ..., "message": ...}

The exit code is 0 on success and 1 otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

INPUT_VARIABLE = "ROTOR_RUNNER_INPUT"
MAX_MESSAGE_CHARS = 2000
LOG_FORMAT = "[%(levelname)s] %(message)s"


class Credentials:
    """The function's short-lived credentials, in the cloud runtime's two spellings."""

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str) -> None:
        self.access_key_id = self.accessKeyId = access_key_id
        self.access_key_secret = self.accessKeySecret = access_key_secret
        self.security_token = self.securityToken = security_token

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r})"


class Function:
    """What the cloud runtime tells a handler about the function it belongs to."""

    def __init__(self, name: str, handler: str, timeout: float) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout


class Context:
    """The ``context`` argument of ``handler(event, context)``."""

    def __init__(
        self,
        *,
        request_id: str,
        credentials: Credentials,
        function: Function,
        region: str,
        rotor_url: str,
    ) -> None:
        self.request_id = self.requestId = request_id
        self.credentials = credentials
        self.function = function
        self.region = region
        self.rotor_url = rotor_url


class LambdaContext:
    """The ``context`` argument of a Lambda-style ``lambda_handler(event, context)``."""

    def __init__(
        self, *, request_id: str, function_name: str, function_arn: str, deadline: float
    ) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = "128"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"rotor/{request_id}"
        self.identity = None
        self.client_context = None
        #: When rotor kills the process (wall-clock seconds, the only clock both share).
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class LoadError(Exception):
    """The handler could not be imported."""


def main() -> int:
    path = os.environ.pop(INPUT_VARIABLE, "")
    if not path:
        sys.stderr.write(f"runner: {INPUT_VARIABLE} is not set\n")
        return 1
    with open(path, encoding="utf-8") as file:
        spec: dict[str, Any] = json.load(file)
    os.unlink(path)
    result_path = str(spec["result_path"])

    _forget_own_directory()
    sys.path[0:0] = [str(entry) for entry in spec["python_path"]]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)

    event: Any = str(spec["event"])
    context: Context | LambdaContext
    try:
        handler = load_handler(str(spec["handler"]))
        if spec.get("convention") == "lambda":
            event = json.loads(event)
            context = LambdaContext(
                request_id=str(spec["request_id"]),
                function_name=str(spec["function_name"]),
                function_arn=str(spec["function_arn"]),
                deadline=float(spec["deadline"]),
            )
        else:
            context = _context(spec)
            _point_cloud_sdk_at_rotor(context.rotor_url, _regions(context.region, event))
    except LoadError as exc:
        traceback.print_exc()
        cause = exc.__cause__ or exc
        return _fail(result_path, "load", type(cause).__name__, str(exc))

    try:
        result = handler(event, context)
    except BaseException as exc:
        traceback.print_exc()
        return _fail(result_path, "exception", type(exc).__name__, str(exc))

    try:
        text = json.dumps({"ok": True, "result": result}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _fail(result_path, "result", type(result).__name__, str(exc))
    _write(result_path, text)
    return 0


def _context(spec: dict[str, Any]) -> Context:
    credentials = spec["credentials"]
    return Context(
        request_id=str(spec["request_id"]),
        credentials=Credentials(
            str(credentials["access_key_id"]),
            str(credentials["access_key_secret"]),
            str(credentials["security_token"] or ""),
        ),
        function=Function(str(spec["function_name"]), str(spec["handler"]), float(spec["timeout"])),
        region=str(spec["region"]),
        rotor_url=str(spec["rotor_url"]),
    )


def _forget_own_directory() -> None:
    """Drop this file's directory from sys.path, so rotor's modules cannot shadow a handler's."""
    own = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if not p or os.path.realpath(p) != own]


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """Import ``module:function`` or ``path/to/file.py:function`` and return the callable."""
    location, _, attribute = spec.rpartition(":")
    try:
        if location.endswith(".py"):
            module = _import_file(location)
        else:
            module = importlib.import_module(location)
        target: Any = module
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise LoadError(f"cannot load handler {spec}: {type(exc).__name__}: {exc}") from exc
    if not callable(target):
        raise LoadError(f"cannot load handler {spec}: {attribute} is not callable")
    handler: Callable[[Any, Any], Any] = target
    return handler


def _import_file(path: str) -> ModuleType:
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.append(directory)  # its sibling modules import like the cloud's code dir
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:  # e.g. a handler file called json.py
        name = "rotor_handler_" + name
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def _regions(region: str, event: str) -> list[str]:
    """The regions a handler may build its SDK client for: the context's, and the event's
    ``RegionId`` (what a cloud handler reads), when the event is a JSON object naming one."""
    regions = [region] if region else []
    try:
        parsed = json.loads(event)
    except (ValueError, RecursionError):
        return regions
    named = parsed.get("RegionId") if isinstance(parsed, dict) else None
    if isinstance(named, str) and named.strip() and named not in regions:
        regions.append(named)
    return regions


def _point_cloud_sdk_at_rotor(rotor_url: str, regions: list[str]) -> None:
    """Send the cloud V1 SDK's KMS calls to rotor, when the handler's dependencies include it.

    The SDK's process-wide endpoint table is consulted before a client's own
    ``add_endpoint``, so a handler that names its cloud endpoint (``kms-vpc.<region>...``)
    still reaches rotor, for each region in ``regions``.
    """
    if not rotor_url or not regions or importlib.util.find_spec("aliyunsdkcore") is None:
        return
    try:
        provider = importlib.import_module("aliyunsdkcore.profile.region_provider")
        for region in regions:
            provider.add_endpoint("kms", region, rotor_url.rstrip("/"))
    except Exception:
        logging.getLogger(__name__).warning("could not point the cloud SDK at rotor", exc_info=True)


def _fail(result_path: str, kind: str, type_name: str, message: str) -> int:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    payload = {"ok": False, "kind": kind, "type": type_name, "message": message}
    _write(result_path, json.dumps(payload))
    return 1


def _write(path: str, text: str) -> None:
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
