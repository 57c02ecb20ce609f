"""A rotate request's version id is an idempotency key, the same in every dialect.

Each test runs through the native API (``POST /v1/secrets/{name}:rotate`` with
``version_id``) and the KMS dialect (``RotateSecret`` with ``VersionId``, by the official
V1 SDK) against the session's real server, and asks the adversary's questions: can a
repeated or concurrent request start two rotations, or report a version no rotation
made Current?
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.RotateSecretRequest import RotateSecretRequest

import rotor.client
from tests.aliyun.conftest import v1_call, v1_client
from tests.rotation.test_server_rotation import HANDLER
from tests.services.server import RunningServer

#: A deadline for what takes well under a second; only a broken server reaches it.
DEADLINE = 60.0

# The handler of tests/rotation/test_server_rotation.py (a fake target in its StateDir),
# whose new step first waits for the gate file (but not in the dry run of its
# configuration), so a rotation of it stays running for as long as a test needs.
GATED_HANDLER = (
    HANDLER.replace("def handler(", "def _handler(")
    + """
import time


def handler(event, context):
    evt = json.loads(event)
    gate, deadline = Path(evt["Gate"]), time.monotonic() + 120
    while evt["Step"] == "new" and not evt.get("DryRun") and not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the gate was never opened")
        time.sleep(0.02)
    return _handler(event, context)
"""
)


class Refused(Exception):
    """A rotate request the server refused: its error code and HTTP status."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(f"{code} ({status})")
        self.code = code
        self.status = status


@dataclasses.dataclass(frozen=True)
class Dialect:
    name: str
    #: A new client's rotate call: (secret name, version id) -> the version id answered.
    connect: Callable[[], Callable[[str, str], str]]
    in_progress: tuple[str, int]
    version_conflict: tuple[str, int]


def _native(server: RunningServer, opened: contextlib.ExitStack) -> Callable[[str, str], str]:
    bearer = f"Bearer {server.access_key_id}.{server.access_key_secret}"
    http = opened.enter_context(
        httpx.Client(base_url=server.url, headers={"Authorization": bearer}, timeout=30)
    )

    def rotate(name: str, version_id: str) -> str:
        response = http.post(f"/v1/secrets/{name}:rotate", json={"version_id": version_id})
        if response.status_code != 202:
            raise Refused(response.json()["code"], response.status_code)
        answered: str = response.json()["version_id"]
        return answered

    return rotate


def _kms(server: RunningServer, opened: contextlib.ExitStack) -> Callable[[str, str], str]:
    client = v1_client(server, server.access_key_id, server.access_key_secret)

    def rotate(name: str, version_id: str) -> str:
        request = RotateSecretRequest()
        request.set_SecretName(name)
        request.set_VersionId(version_id)
        try:
            answered: str = v1_call(client, request)["VersionId"]
        except ServerException as exc:
            raise Refused(exc.error_code, exc.http_status) from None
        return answered

    return rotate


@pytest.fixture(params=["native", "kms"])
def dialect(request: pytest.FixtureRequest, rotor_server: RunningServer) -> Iterator[Dialect]:
    with contextlib.ExitStack() as opened:
        if request.param == "native":
            yield Dialect(
                "native",
                lambda: _native(rotor_server, opened),
                in_progress=("RotationInProgress", 409),
                version_conflict=("VersionConflict", 409),
            )
        else:
            yield Dialect(
                "kms",
                lambda: _kms(rotor_server, opened),
                in_progress=("Rejected.RotationInProgress", 400),
                version_conflict=("Rejected.ResourceExist", 400),
            )


@pytest.fixture
def admin(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    with rotor_server.client() as client:
        yield client


def _secret(admin: rotor.client.Client, function: str = "generated-password", **params: str) -> str:
    name = f"idem/{uuid.uuid4().hex[:12]}"
    admin.create_secret(name, value="before", version_id="v0")
    admin.configure_rotation(name, function=function, parameters=params, rotate_now=False)
    return name


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The gate file of a gated rotation; opened at the end whatever happens."""
    path = tmp_path / "gate"
    yield path
    path.touch()


@pytest.fixture
def gated(admin: rotor.client.Client, tmp_path: Path) -> str:
    """A registered function whose new step waits for its ``Gate`` parameter's file."""
    path = tmp_path / f"gated_{uuid.uuid4().hex[:8]}.py"
    path.write_text(GATED_HANDLER)
    function = f"gated-{uuid.uuid4().hex[:8]}"
    admin.register_function(function, kind="python-handler", handler=f"{path}:handler")
    return function


def _history(admin: rotor.client.Client, name: str) -> list[tuple[str, str]]:
    return [(r.version_id, r.status) for r in admin.list_rotations(name).items]


def _finished(admin: rotor.client.Client, name: str) -> list[tuple[str, str]]:
    """The history once no rotation of ``name`` runs (polled, up to the deadline)."""
    for rotation in admin.list_rotations(name).items:
        if not rotation.done:
            admin.wait_for_rotation(rotation.id, timeout=DEADLINE, poll=0.05)
    return _history(admin, name)


def _together(calls: list[Callable[[], str]]) -> list[str | Refused]:
    """Run the calls at once (released by one barrier); each one's answer or refusal."""
    barrier = threading.Barrier(len(calls))
    results: list[str | Refused] = [Refused("not run", 0)] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=DEADLINE)
        try:
            results[index] = calls[index]()
        except Refused as refused:
            results[index] = refused

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    return results


def test_concurrent_requests_with_one_token_start_one_rotation(
    dialect: Dialect, admin: rotor.client.Client
) -> None:
    name = _secret(admin)
    clients = [dialect.connect() for _ in range(6)]
    answers = _together([lambda rotate=rotate: rotate(name, "token-1") for rotate in clients])
    assert answers == ["token-1"] * 6
    assert _finished(admin, name) == [("token-1", "succeeded")]
    assert admin.get_value(name).version_id == "token-1"


def test_the_same_token_after_success_answers_that_version_and_starts_nothing(
    dialect: Dialect, admin: rotor.client.Client
) -> None:
    name = _secret(admin)
    rotate = dialect.connect()
    assert rotate(name, "token-1") == "token-1"
    assert _finished(admin, name) == [("token-1", "succeeded")]
    rotated = admin.get_value(name).value
    # A rotation would be recorded before the answer: none is, and nothing changed.
    assert rotate(name, "token-1") == "token-1"
    assert _history(admin, name) == [("token-1", "succeeded")]
    assert admin.get_value(name).value == rotated
    # Another token is another rotation.
    assert rotate(name, "token-2") == "token-2"
    assert _finished(admin, name)[0] == ("token-2", "succeeded")


def test_another_token_while_one_runs_is_refused(
    dialect: Dialect, admin: rotor.client.Client, gated: str, gate: Path
) -> None:
    name = _secret(admin, gated, Gate=str(gate), StateDir=str(gate.parent))
    rotate = dialect.connect()
    assert rotate(name, "token-1") == "token-1"
    with pytest.raises(Refused) as refused:
        rotate(name, "token-2")
    assert (refused.value.code, refused.value.status) == dialect.in_progress
    assert rotate(name, "token-1") == "token-1"  # the same request: the same rotation
    assert _history(admin, name) == [("token-1", "running")]
    gate.touch()
    assert _finished(admin, name) == [("token-1", "succeeded")]
    assert admin.get_value(name).version_id == "token-1"


def test_concurrent_requests_with_other_tokens_start_one_rotation_and_refuse_the_rest(
    dialect: Dialect, admin: rotor.client.Client, gated: str, gate: Path
) -> None:
    name = _secret(admin, gated, Gate=str(gate), StateDir=str(gate.parent))
    tokens = [f"token-{i}" for i in range(6)]
    clients = [dialect.connect() for _ in tokens]
    answers = _together(
        [
            lambda rotate=rotate, token=token: rotate(name, token)
            for rotate, token in zip(clients, tokens, strict=True)
        ]
    )
    won = [
        (token, answer)
        for token, answer in zip(tokens, answers, strict=True)
        if isinstance(answer, str)
    ]
    assert len(won) == 1
    ((token, answer),) = won
    assert answer == token  # never another request's version
    refusals = [(a.code, a.status) for a in answers if isinstance(a, Refused)]
    assert refusals == [dialect.in_progress] * 5
    assert _history(admin, name) == [(token, "running")]
    gate.touch()
    assert _finished(admin, name) == [(token, "succeeded")]


@pytest.mark.parametrize("version_id", ["v0", "by-hand"])
def test_a_token_naming_a_version_no_rotation_made_is_refused(
    dialect: Dialect, admin: rotor.client.Client, version_id: str
) -> None:
    """The Current version, or one a put wrote, was never rotated in: answering with it
    would report a rotation that did not happen."""
    name = _secret(admin)
    admin.put_value(name, "written by hand", version_id="by-hand", stages=[])
    with pytest.raises(Refused) as refused:
        dialect.connect()(name, version_id)
    assert (refused.value.code, refused.value.status) == dialect.version_conflict
    assert _history(admin, name) == []
    assert admin.get_value(name).version_id == "v0"


def test_a_token_naming_the_pending_version_rotates_it_in(
    dialect: Dialect, admin: rotor.client.Client
) -> None:
    name = _secret(admin)
    admin.put_value(name, "staged by hand", version_id="staged", stages=["Pending"])
    assert dialect.connect()(name, "staged") == "staged"
    assert _finished(admin, name) == [("staged", "succeeded")]
    current = admin.get_value(name)
    assert (current.version_id, current.value) == ("staged", "staged by hand")
