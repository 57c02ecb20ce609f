"""``python-handler``: a registered handler ``handler(event, context)``, run like a cloud function.

Its registration (:mod:`rotor.rotation.registrations`) gives:

- ``handler`` (required): ``module:function`` or ``/absolute/path/file.py:function``.
- ``python_path``: extra ``sys.path`` entries (the function's own dependencies).
- ``python``: the interpreter to run it with, e.g. the function's own virtualenv's
  ``bin/python``; default: the one running rotor. rotor need not be installed there.
- ``timeout_seconds``: default: the rotation's step timeout.

A rotation configuration never sets these: it names the registered function, and its
parameters arrive in the event, which the handler gets unchanged.

Each invocation runs :mod:`rotor.rotation.functions.runner` in a new process (its own
process group, a fresh temporary working directory, no stdin, a minimal environment)
that imports the handler and calls it with the event as JSON text and a context shaped
like the cloud runtime's. The function's short-lived credentials reach it through
``context.credentials`` and the ``ROTOR_URL`` / ``ROTOR_ACCESS_KEY_ID`` /
``ROTOR_ACCESS_KEY_SECRET`` variables, never through the command line. They are the
role's (parameter ``Role``, which its registration must list) narrowed to the rotated
secret and read access to the secrets delegated to the rotation
(:mod:`rotor.access.delegation`: the ``*Secret`` parameters and the ``*Secret`` fields
of its Current value, so a cloud handler finds its ``MasterSecret``). When the
handler's dependencies include the cloud's V1 SDK, its KMS endpoint for the event's
``RegionId`` is rotor. Its stdout and stderr (the root logger writes there at INFO) go
to the rotation history line by line, with secret values redacted. On timeout the
whole process group is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rotor import errors
from rotor.rotation.functions import runner
from rotor.rotation.functions.base import (
    Credentials,
    InvocationContext,
    options_of,
)
from rotor.store import stages

RUNNER = os.path.abspath(runner.__file__)
#: Output kept for the rotation history; the rest is read and counted, not kept.
MAX_OUTPUT_BYTES = 64 * 1024
MAX_RESULT_BYTES = 1024 * 1024
#: How long output may stay open after the handler's process exited (a child holds it).
EXIT_GRACE_SECONDS = 1.0
_POLL_SECONDS = 0.5
_CHUNK_BYTES = 65536


def timeout_of(context: InvocationContext) -> float:
    """The registration's ``timeout_seconds``, else the context's step timeout."""
    raw = context.function.definition.get("timeout_seconds") if context.function else None
    return float(context.timeout_seconds if raw is None else raw)


def definition_of(context: InvocationContext) -> Mapping[str, Any]:
    if context.function is None:
        raise errors.InvalidParameter(
            "this adapter runs registered functions only; register the function first"
        )
    return context.function.definition


@dataclasses.dataclass(frozen=True, kw_only=True)
class HandlerOptions:
    """The handler parameters of one invocation, checked and made absolute."""

    #: As given, e.g. ``index:handler``; the cloud runtime's function name.
    handler: str
    #: ``module:function``, or an absolute ``/path/file.py:function``.
    location: str
    python_path: tuple[str, ...]
    python: str
    timeout: float

    @classmethod
    def of(cls, context: InvocationContext) -> HandlerOptions:
        definition = definition_of(context)
        handler = str(definition["handler"])
        python_path = tuple(definition.get("python_path") or ())
        return cls(
            handler=handler,
            location=check_location(handler),
            python_path=python_path,
            python=check_python(definition.get("python") or sys.executable),
            timeout=timeout_of(context),
        )


def check_location(handler: str) -> str:
    """``module:function`` or an absolute ``/path/file.py:function``, checked."""
    module, _, function = handler.rpartition(":")
    if not module or not all(part.isidentifier() for part in function.split(".")):
        raise errors.InvalidParameter(
            f"Handler {handler!r} must be module:function or path/to/file.py:function"
        )
    if module.endswith(".py"):
        path = os.path.abspath(os.path.expanduser(module))
        if not os.path.isfile(path):
            raise errors.InvalidParameter(f"Handler file {path} does not exist")
        return f"{path}:{function}"
    if not all(part.isidentifier() for part in module.split(".")):
        raise errors.InvalidParameter(f"Handler module {module!r} is not a valid module name")
    return handler


def check_python(path: str) -> str:
    """An absolute path of an executable file (the handler's interpreter)."""
    if not os.path.isabs(path) or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise errors.InvalidParameter(f"python {path!r} is not an executable file")
    return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Run:
    """How the handler's process ended, and what it printed."""

    returncode: int
    output: bytes
    #: Output bytes read beyond :data:`MAX_OUTPUT_BYTES` and not kept.
    dropped: int
    timed_out: bool


class PythonHandler:
    """Runs a custom Python handler in its own process; see the module docstring.

    A calling convention other than the cloud function's (the Lambda-style handler,
    :mod:`rotor.rotation.functions.lambda_handler`) overrides :attr:`convention`,
    :meth:`handler_event`, :meth:`runner_fields` and :meth:`environment`: the process,
    its credentials, output, timeout and result are this class's, for every convention.
    """

    #: How the runner calls the handler (:mod:`rotor.rotation.functions.runner`).
    convention = "cloud-function"

    def handler_event(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any]:
        """The event the handler gets: the engine's, unchanged."""
        return event

    def runner_fields(
        self, event: Mapping[str, Any], context: InvocationContext, options: HandlerOptions
    ) -> dict[str, Any]:
        """What the runner's input says beyond the event, the handler and the credentials."""
        region = options_of(event, context).get("RegionId")
        return {
            "function_name": options.handler,
            "region": region if isinstance(region, str) else "",
        }

    def environment(self, context: InvocationContext, credentials: Credentials) -> dict[str, str]:
        """The variables the handler's process gets beyond the runner's own."""
        return {
            "ROTOR_URL": context.api_url,
            **credential_variables(
                credentials,
                key_id="ROTOR_ACCESS_KEY_ID",
                secret="ROTOR_ACCESS_KEY_SECRET",
                token="ROTOR_SECURITY_TOKEN",
            ),
        }

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        options = HandlerOptions.of(context)
        try:
            event_text = json.dumps(self.handler_event(event, context))
        except (TypeError, ValueError):
            raise errors.InvalidParameter("the event is not JSON-serialisable") from None
        credentials = context.mint_credentials()
        for value in (credentials.access_key_secret, credentials.security_token):
            if value:
                context.secrets.redact.remember(value)

        with tempfile.TemporaryDirectory(
            prefix="rotor-function-", ignore_cleanup_errors=True
        ) as temp:
            private = Path(temp, "io")
            work = Path(temp, "work")
            private.mkdir(mode=0o700)
            work.mkdir(mode=0o700)
            result_path = private / "result.json"
            input_path = private / "input.json"
            fields = {
                **self.runner_fields(event, context, options),
                "convention": self.convention,
                "event": event_text,
            }
            _write_private(
                input_path, _runner_input(fields, options, context, credentials, result_path)
            )
            env = {**self.environment(context, credentials), **_environment(input_path, work)}
            run = _run([options.python, RUNNER], cwd=work, env=env, timeout=options.timeout)
            try:
                outcome = _read_result(result_path)
            finally:
                _remember_secret_values(context)
                _log_output(context, run)

        if run.timed_out:
            raise errors.FunctionFailed(f"handler timed out after {options.timeout:g} s")
        if outcome is None:
            raise errors.FunctionFailed(
                f"handler process exited with code {run.returncode} without a result"
            )
        if outcome.get("ok") is True:
            return _result(outcome.get("result"), context)
        raise errors.FunctionFailed(
            context.secrets.redact(_failure_message(outcome)), retryable=_retryable(outcome)
        )


def credential_variables(
    credentials: Credentials, *, key_id: str, secret: str, token: str
) -> dict[str, str]:
    """The credentials under the variable names a convention's SDK reads (the token's
    only when there is one)."""
    env = {key_id: credentials.access_key_id, secret: credentials.access_key_secret}
    if credentials.security_token:
        env[token] = credentials.security_token
    return env


def _runner_input(
    fields: Mapping[str, Any],
    options: HandlerOptions,
    context: InvocationContext,
    credentials: Credentials,
    result_path: Path,
) -> str:
    return json.dumps(
        {
            **fields,
            "handler": options.location,
            "python_path": list(options.python_path),
            "request_id": context.request_id,
            "timeout": options.timeout,
            # Taken before the process starts: its start-up and the handler's import count.
            "deadline": time.time() + options.timeout,
            "rotor_url": context.api_url,
            "credentials": {
                "access_key_id": credentials.access_key_id,
                "access_key_secret": credentials.access_key_secret,
                "security_token": credentials.security_token,
            },
            "result_path": str(result_path),
        }
    )


def _environment(input_path: Path, work: Path) -> dict[str, str]:
    """The runner's own variables: the rest of rotor's environment is not passed on."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(work),
        # stdout and stderr share one pipe, so keep them in order.
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8:backslashreplace",
        runner.INPUT_VARIABLE: str(input_path),
    }


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> _Run:
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise errors.FunctionFailed(
            f"cannot start the handler's interpreter {argv[0]}: {exc.strerror}"
        ) from exc
    output = bytearray()
    dropped = 0
    with process:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        timed_out = lingering = False
        exited_at: float | None = None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                while True:
                    now = time.monotonic()
                    if exited_at is None and process.poll() is not None:
                        exited_at = now
                    limit = deadline if exited_at is None else exited_at + EXIT_GRACE_SECONDS
                    if now >= limit:
                        timed_out, lingering = exited_at is None, exited_at is not None
                        break
                    if not selector.select(min(limit - now, _POLL_SECONDS)):
                        continue
                    chunk = os.read(fd, _CHUNK_BYTES)
                    if not chunk:
                        break
                    room = MAX_OUTPUT_BYTES - len(output)
                    output += chunk[:room]
                    dropped += max(0, len(chunk) - room)
            if not timed_out and not lingering:
                # The output closed; the process may still be running.
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            if timed_out or lingering or process.returncode is None:
                _kill_group(process.pid)
            process.wait()
    return _Run(
        returncode=process.returncode, output=bytes(output), dropped=dropped, timed_out=timed_out
    )


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_RESULT_BYTES:
        raise errors.FunctionFailed(
            f"handler returned more than {MAX_RESULT_BYTES // 1024 // 1024} MiB"
        )
    try:
        outcome = json.loads(path.read_bytes())
    except ValueError:
        outcome = None
    if not isinstance(outcome, dict):
        raise errors.FunctionFailed("handler process wrote an unreadable result")
    return outcome


def _log_output(context: InvocationContext, run: _Run) -> None:
    for line in run.output.decode("utf-8", "replace").splitlines():
        line = line.rstrip()
        if line:
            context.log(context.secrets.redact(line))
    if run.dropped:
        context.log(f"(output truncated: {run.dropped} more bytes not shown)")


def _remember_secret_values(context: InvocationContext) -> None:
    """Teach the redactor the values the handler may have read or written through the API.

    A handler reaches rotor over HTTP, not through ``context.secrets``, so the
    redactor knows nothing it saw. Read them now (after the run, so a Pending value
    it just created is included): the secrets its credentials could reach (the rotated
    secret and those delegated to the rotation), at Current, Pending and Previous.
    """
    for name in sorted(context.secrets.allowed_names):
        for stage in stages.RESERVED:
            with contextlib.suppress(errors.RotorError):
                context.secrets.find_value(name, stage=stage)


def _result(result: object, context: InvocationContext) -> dict[str, Any] | None:
    if result is None or isinstance(result, dict):
        return result
    if isinstance(result, str):
        if not result.strip():
            return None
        with contextlib.suppress(ValueError):
            parsed = json.loads(result)
            if isinstance(parsed, dict):
                return parsed
    # A cloud handler may return anything; only an object carries data to later steps.
    context.log(f"handler returned a {type(result).__name__}, not a JSON object; ignored")
    return None


#: Exceptions a handler raises that trying again cannot cure: rotor refused its credentials
#: or its request, or its own code is broken.
PERMANENT_EXCEPTIONS = frozenset(
    {
        "AccessDenied",
        "DelegationDenied",
        "Unauthenticated",
        "InvalidParameter",
        "ImportError",
        "ModuleNotFoundError",
        "SyntaxError",
        "NameError",
        "TypeError",
        "AttributeError",
        "JSONDecodeError",
    }
)


_REFUSED = re.compile(r"\bHTTP Status: 40[13]\b|\bForbidden\.[A-Za-z]|\bInvalidAccessKeyId\b")


def _retryable(outcome: Mapping[str, Any]) -> bool:
    """Whether a failed handler may pass on another attempt: not when it did not load,
    and not when it raised one of :data:`PERMANENT_EXCEPTIONS`."""
    if outcome.get("kind") == "load":
        return False
    if _REFUSED.search(str(outcome.get("message") or "")):
        return False  # the cloud SDKs' refusals: a 401/403 or a Forbidden.* code
    return str(outcome.get("type") or "").rpartition(".")[2] not in PERMANENT_EXCEPTIONS


def _failure_message(outcome: Mapping[str, Any]) -> str:
    kind = outcome.get("kind")
    type_name = str(outcome.get("type") or "Exception")
    message = str(outcome.get("message") or "")
    if kind == "exception":
        return f"{type_name}: {message}" if message else type_name
    if kind == "result":
        return f"handler returned a value that is not JSON-serialisable ({message})"
    return message or "handler failed"
