"""``python-handler``: real handler files, run in real child processes and interpreters."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from rotor import errors
from rotor.rotation.functions import python_handler
from rotor.rotation.functions.base import InvocationContext
from rotor.rotation.functions.python_handler import PythonHandler
from rotor.store import secrets, stages, versions
from rotor.store.database import Store
from tests.rotation.functions.conftest import API_URL, CREDENTIALS, MakeContext, registration

SECRET = "app/db"
CURRENT_PASSWORD = "current-pass-8d2k"
PENDING_PASSWORD = "pending-pass-4j7q"


def write_handler(directory: Path, source: str, name: str = "index.py") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def event_for(handler: Path | str, **parameters: Any) -> dict[str, Any]:
    spec = f"{handler}:handler" if isinstance(handler, Path) else handler
    return {
        "SecretName": SECRET,
        "RegionId": "cn-hangzhou",
        "Step": "new",
        "VersionId": "version-0001",
        "Handler": spec,
        **parameters,
    }


#: The event keys :func:`run` takes as the registration's fields.
REGISTRATION = {
    "Handler": "handler",
    "Python": "python",
    "PythonPath": "python_path",
    "TimeoutSeconds": "timeout_seconds",
}


def run(event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
    """Invoke as the engine does a function registered with the event's ``Handler``,
    ``Python``, ``PythonPath`` and ``TimeoutSeconds``; the handler gets the rest."""
    definition: dict[str, Any] = {}
    for key, field in REGISTRATION.items():
        if key in event:
            value = event.pop(key)
            if field == "python_path":
                value = value.split(os.pathsep)
            elif field == "timeout_seconds":
                value = float(value)
            definition[field] = value
    function = registration("python-handler", **definition)
    return PythonHandler().invoke(event, dataclasses.replace(context, function=function))


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_handler_gets_event_text_and_cloud_context(
    tmp_path: Path, make_context: MakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARENT_ONLY_VARIABLE", "must-not-leak")
    handler = write_handler(
        tmp_path,
        """
        import importlib.util, json, os

        def handler(event, context):
            with open("/proc/self/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\\0") if a]
            creds = context.credentials
            return {
                "event_type": type(event).__name__,
                "event": json.loads(event),
                "request_id": context.request_id,
                "requestId": context.requestId,
                "camel": [creds.accessKeyId, creds.accessKeySecret, creds.securityToken],
                "snake": [creds.access_key_id, creds.access_key_secret, creds.security_token],
                "function": context.function.name,
                "rotor_url": context.rotor_url,
                "environ": dict(os.environ),
                "cwd": os.getcwd(),
                "private_files": os.listdir(os.path.join(os.getcwd(), "..", "io")),
                "argv": argv,
                "rotor_modules_visible": importlib.util.find_spec("generated") is not None,
            }
        """,
    )
    harness = make_context(request_id="request-42")
    event = event_for(handler)

    result = run(event, harness.context)

    assert result is not None
    assert result["event_type"] == "str"
    assert result["event"] == event
    assert result["request_id"] == result["requestId"] == "request-42"
    expected = [
        CREDENTIALS.access_key_id,
        CREDENTIALS.access_key_secret,
        CREDENTIALS.security_token,
    ]
    assert result["camel"] == result["snake"] == expected
    assert result["function"] == f"{handler}:handler"
    assert result["rotor_url"] == API_URL
    assert len(harness.minted) == 1

    environ = result["environ"]
    assert environ["ROTOR_URL"] == API_URL
    assert environ["ROTOR_ACCESS_KEY_ID"] == CREDENTIALS.access_key_id
    assert environ["ROTOR_ACCESS_KEY_SECRET"] == CREDENTIALS.access_key_secret
    assert set(environ) <= {
        "PATH",
        "LANG",
        "HOME",
        "ROTOR_URL",
        "ROTOR_ACCESS_KEY_ID",
        "ROTOR_ACCESS_KEY_SECRET",
        "ROTOR_SECURITY_TOKEN",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
    }
    assert "PARENT_ONLY_VARIABLE" not in environ

    cwd = Path(result["cwd"])
    assert cwd.name == "work"
    assert cwd != Path.cwd()
    assert not cwd.exists()  # removed after the invocation
    assert result["private_files"] == []  # the runner's input was deleted once read

    assert result["argv"] == [sys.executable, python_handler.RUNNER]
    command_line = " ".join(result["argv"])
    for secret in (
        CREDENTIALS.access_key_secret,
        CREDENTIALS.security_token,
        CREDENTIALS.access_key_id,
        "version-0001",
    ):
        assert secret not in command_line
    assert result["rotor_modules_visible"] is False


def test_output_reaches_the_log_redacted(
    tmp_path: Path, make_context: MakeContext, store: Store
) -> None:
    value = json.dumps({"AccountName": "app", "AccountPassword": CURRENT_PASSWORD})
    secrets.create_secret(store, name=SECRET, value=value)
    pending = json.dumps({"AccountName": "app_rt", "AccountPassword": PENDING_PASSWORD})
    # Written behind the redactor's back, as a handler does through the API.
    versions.put_value(store, SECRET, pending, version_id="version-0001", stages=[stages.PENDING])
    handler = write_handler(
        tmp_path,
        f"""
        import logging, sys

        logger = logging.getLogger()
        logger.setLevel(logging.INFO)

        def handler(event, context):
            print("printed {CURRENT_PASSWORD}")
            logger.info("logged %s", "{PENDING_PASSWORD}")
            logging.getLogger("deep.module").warning("remembered explicitly-remembered-value")
            print("key secret", context.credentials.accessKeySecret, file=sys.stderr)
            print("plain line")
            return {{"VersionId": "version-0001"}}
        """,
    )
    harness = make_context()
    harness.redactor.remember("explicitly-remembered-value")

    result = run(event_for(handler), harness.context)

    assert result == {"VersionId": "version-0001"}
    assert harness.lines == [
        "printed ***",
        "[INFO] logged ***",
        "[WARNING] remembered ***",
        "key secret ***",
        "plain line",
    ]


def test_an_exception_becomes_function_failed(
    tmp_path: Path, make_context: MakeContext, store: Store
) -> None:
    value = json.dumps({"AccountName": "app", "AccountPassword": CURRENT_PASSWORD})
    secrets.create_secret(store, name=SECRET, value=value)
    handler = write_handler(
        tmp_path,
        f"""
        def handler(event, context):
            raise ValueError("cannot log in as app with {CURRENT_PASSWORD}")
        """,
    )
    harness = make_context()

    with pytest.raises(errors.FunctionFailed) as raised:
        run(event_for(handler), harness.context)

    assert raised.value.message == "ValueError: cannot log in as app with ***"
    assert raised.value.code == "RotationFunctionFailed"
    assert raised.value.http_status == 502
    assert "Traceback (most recent call last):" in harness.lines
    assert CURRENT_PASSWORD not in "\n".join(harness.lines)


def test_a_result_that_is_not_json_is_an_error(tmp_path: Path, make_context: MakeContext) -> None:
    handler = write_handler(
        tmp_path,
        """
        def handler(event, context):
            return {"VersionId": {1, 2}}
        """,
    )
    with pytest.raises(errors.FunctionFailed, match=r"not JSON-serialisable.*set"):
        run(event_for(handler), make_context().context)


@pytest.mark.parametrize(
    ("returned", "expected", "logged"),
    [
        ("None", None, False),
        ('{"VersionId": "v1", "Extra": [1]}', {"VersionId": "v1", "Extra": [1]}, False),
        ('json.dumps({"VersionId": "v2"})', {"VersionId": "v2"}, False),
        ('"done"', None, True),
        ("[1, 2]", None, True),
    ],
)
def test_results(
    tmp_path: Path,
    make_context: MakeContext,
    returned: str,
    expected: dict[str, Any] | None,
    logged: bool,
) -> None:
    handler = write_handler(
        tmp_path,
        f"""
        import json

        def handler(event, context):
            return {returned}
        """,
    )
    harness = make_context()
    assert run(event_for(handler), harness.context) == expected
    assert any("not a JSON object; ignored" in line for line in harness.lines) is logged


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path, make_context: MakeContext) -> None:
    pids = tmp_path / "pids"
    handler = write_handler(
        tmp_path,
        f"""
        import os, subprocess, sys, time

        def handler(event, context):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            with open({str(pids)!r}, "w") as f:
                f.write(f"{{os.getpid()}} {{child.pid}}")
            print("sleeping")
            time.sleep(120)
        """,
    )
    harness = make_context()
    started = time.monotonic()

    with pytest.raises(errors.FunctionFailed) as raised:
        run(event_for(handler, TimeoutSeconds="1"), harness.context)

    assert raised.value.message == "handler timed out after 1 s"
    assert time.monotonic() - started < 10
    assert harness.lines == ["sleeping"]
    handler_pid, child_pid = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(handler_pid) or alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(handler_pid)
    assert not alive(child_pid)


def test_python_path_makes_the_functions_dependencies_importable(
    tmp_path: Path, make_context: MakeContext
) -> None:
    deps = tmp_path / "deps"
    write_handler(deps, 'VALUE = "from the dependencies dir"\n', name="helper_dependency.py")
    code = tmp_path / "code"
    write_handler(code, "", name="myfunctions/__init__.py")
    write_handler(
        code,
        """
        import helper_dependency

        def handler(event, context):
            return {"value": helper_dependency.VALUE, "file": __file__}
        """,
        name="myfunctions/rotate.py",
    )
    event = event_for("myfunctions.rotate:handler", PythonPath=f"{code}{os.pathsep}{deps}")

    result = run(event, make_context().context)

    assert result == {
        "value": "from the dependencies dir",
        "file": str(code / "myfunctions" / "rotate.py"),
    }


def test_a_handler_runs_under_its_own_interpreter_without_rotor(
    tmp_path: Path, make_context: MakeContext
) -> None:
    venv = tmp_path / "function-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    handler = write_handler(
        tmp_path,
        """
        import sys

        def handler(event, context):
            try:
                import rotor  # noqa: F401
            except ImportError:
                importable = False
            else:
                importable = True
            return {"rotor_importable": importable, "prefix": sys.prefix,
                    "key": context.credentials.accessKeyId}
        """,
    )
    event = event_for(handler, Python=str(venv / "bin" / "python"))

    result = run(event, make_context().context)

    assert result is not None
    assert result["rotor_importable"] is False
    assert os.path.realpath(result["prefix"]) == os.path.realpath(venv)
    assert result["key"] == CREDENTIALS.access_key_id


def test_the_cloud_sdk_is_pointed_at_rotor(tmp_path: Path, make_context: MakeContext) -> None:
    # The V1 SDK's process-wide endpoint table (only its interface, as a stand-in package).
    deps = tmp_path / "deps"
    write_handler(deps, "", name="aliyunsdkcore/__init__.py")
    write_handler(deps, "", name="aliyunsdkcore/profile/__init__.py")
    write_handler(
        deps,
        """
        ENDPOINTS = []

        def add_endpoint(product_code, region_id, end_point):
            ENDPOINTS.append([product_code, region_id, end_point])
        """,
        name="aliyunsdkcore/profile/region_provider.py",
    )
    handler = write_handler(
        tmp_path,
        """
        from aliyunsdkcore.profile import region_provider

        def handler(event, context):
            return {"endpoints": region_provider.ENDPOINTS}
        """,
    )
    event = event_for(handler, PythonPath=str(deps))

    result = run(event, make_context().context)

    assert result == {"endpoints": [["kms", "cn-hangzhou", API_URL]]}


def test_a_process_that_exits_without_a_result(tmp_path: Path, make_context: MakeContext) -> None:
    handler = write_handler(
        tmp_path,
        """
        import os

        def handler(event, context):
            print("leaving")
            os._exit(3)
        """,
    )
    harness = make_context()
    with pytest.raises(errors.FunctionFailed, match="exited with code 3 without a result"):
        run(event_for(handler), harness.context)
    assert harness.lines == ["leaving"]


def test_captured_output_is_capped(tmp_path: Path, make_context: MakeContext) -> None:
    handler = write_handler(
        tmp_path,
        """
        def handler(event, context):
            for i in range(4000):
                print("x" * 63)
        """,
    )
    harness = make_context()
    assert run(event_for(handler), harness.context) is None
    assert harness.lines[-1] == f"(output truncated: {4000 * 64 - 64 * 1024} more bytes not shown)"
    assert len(harness.lines) == 64 * 1024 // 64 + 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module_xyz:handler",
            "cannot load handler no_such_module_xyz:handler: ModuleNotFound",
        ),
        ("json:no_such_function", "cannot load handler json:no_such_function: AttributeError"),
        ("json:__doc__", "__doc__ is not callable"),
    ],
)
def test_a_handler_that_cannot_be_loaded(
    make_context: MakeContext, spec: str, message: str
) -> None:
    with pytest.raises(errors.FunctionFailed, match=message):
        run(event_for(spec), make_context().context)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "handler is required"),
        ({"handler": "no-colon"}, "must be module:function"),
        ({"handler": "mod:not-an-identifier"}, "must be module:function"),
        ({"handler": "not a module:handler"}, "not a valid module name"),
        ({"handler": "/nowhere/index.py:handler"}, "does not exist"),
        ({"handler": "index.py:handler"}, "must be an absolute path"),
        ({"handler": "json:loads", "python": "/nowhere/bin/python"}, "is not an executable"),
        ({"handler": "json:loads", "python": "python3"}, "absolute path"),
        ({"handler": "json:loads", "python_path": "/a:/b"}, "python_path must be a list"),
        ({"handler": "json:loads", "python_path": ["rel"]}, "not an absolute directory"),
        ({"handler": "json:loads", "timeout_seconds": "soon"}, "timeout_seconds must be"),
        ({"handler": "json:loads", "timeout_seconds": 0}, "positive"),
        ({"handler": "json:loads", "timeout_seconds": True}, "timeout_seconds must be"),
        ({"handler": "json:loads", "url": "http://x/"}, "does not take url"),
    ],
)
def test_invalid_registrations_are_refused_before_anything_is_stored(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    from rotor.access import policies
    from rotor.access.keys import Identity
    from rotor.rotation import registrations
    from rotor.store import functions

    admin = Identity(
        principal_id="p",
        principal_name="admin",
        access_key_id="k",
        layers=((policies.parse_policy(policies.ADMINISTRATOR),),),
    )
    with pytest.raises(errors.InvalidParameter, match=message):
        registrations.register(
            store, store.settings, admin, "fn", kind="python-handler", fields=fields
        )
    assert functions.list_functions(store) == []


def test_the_adapter_runs_registered_functions_only(make_context: MakeContext) -> None:
    harness = make_context()
    with pytest.raises(errors.InvalidParameter, match="registered functions only"):
        PythonHandler().invoke({"SecretName": SECRET, "Step": "new"}, harness.context)
    assert harness.minted == []
