"""``ROTOR-HMAC-SHA256`` signed requests: the scheme, the verifier, and a real server.

The server-side checks run against a real ``rotor serve`` with plain httpx, so a
tampered or replayed request is exactly what went over the wire.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import rotor.client
from rotor import errors, protocol
from rotor.access import keys, policies, rotor_signature
from rotor.api.throttle import FREE_FAILURES
from rotor.client import _signing
from rotor.settings import Settings
from rotor.store import principals
from rotor.store.database import Store
from tests.services.server import RunningServer, server_env, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]

# The worked example of docs/reference/api.md.
EXAMPLE_SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
EXAMPLE_BODY = b'{"value":"s3cret-2","version_id":"v2"}'
EXAMPLE_STRING = (
    "ROTOR-HMAC-SHA256\n"
    "POST\n"
    "/v1/secrets/app/db:versions\n"
    "\n"
    "2fff9d625fca15d92667652661779753d5bf8a3d6fdc0f86280e1b9c5cb970f1\n"
    "1767225600\n"
    "Xq3v9oKpL2mN8rTb0sWuYc\n"
)
EXAMPLE_SIGNATURE = "2dfdeeac5c8e52bd1e24835c81805f08e9119c9c115fb1ab36a650621bcd8141"
EXAMPLE_QUERY = "prefix=app%2F&tag=team%3Dpay&tag=env=prod&page_size=10&x=a+b&y="
EXAMPLE_CANONICAL_QUERY = "page_size=10&prefix=app%2F&tag=env%3Dprod&tag=team%3Dpay&x=a%20b&y="


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the scheme ------------------------------------------------------------------------------


def test_documented_example() -> None:
    text = protocol.string_to_sign(
        method="POST",
        path="/v1/secrets/app/db:versions",
        query="",
        body=EXAMPLE_BODY,
        timestamp="1767225600",
        nonce="Xq3v9oKpL2mN8rTb0sWuYc",
    )
    assert text == EXAMPLE_STRING
    assert rotor_signature.signature(EXAMPLE_SECRET, text) == EXAMPLE_SIGNATURE
    assert protocol.canonical_query(EXAMPLE_QUERY) == EXAMPLE_CANONICAL_QUERY
    api_md = (ROOT / "docs" / "reference" / "api.md").read_text()
    for shown in (EXAMPLE_SIGNATURE, EXAMPLE_CANONICAL_QUERY, EXAMPLE_SECRET):
        assert shown in api_md


def test_client_signs_what_httpx_sends() -> None:
    request = httpx.Request(
        "GET", "http://rotor.test/v1/secrets", params={"prefix": "app/x y", "page_size": "5"}
    )
    value = _signing.authorization(
        request, access_key_id="RKID", access_key_secret="s", timestamp=1767225600, nonce="N" * 22
    )
    auth = rotor_signature.parse_authorization(value)
    assert (auth.access_key_id, auth.timestamp, auth.nonce) == ("RKID", "1767225600", "N" * 22)
    text = protocol.string_to_sign(
        method="GET",
        path="/v1/secrets",
        query=request.url.query.decode(),
        body=b"",
        timestamp="1767225600",
        nonce="N" * 22,
    )
    assert text.splitlines()[3] == "page_size=5&prefix=app%2Fx%20y"
    assert auth.signature == rotor_signature.signature("s", text)


GOOD = "Credential=RKID, Timestamp=1767225600, Nonce=" + "n" * 16 + ", Signature=" + "a" * 64


@pytest.mark.parametrize(
    "value",
    [
        "Bearer x.y",
        "ROTOR-HMAC-SHA256",
        "ROTOR-HMAC-SHA256 ",
        "ROTOR-HMAC-SHA1 " + GOOD,
        "ROTOR-HMAC-SHA256 " + GOOD.replace("Credential=RKID, ", ""),
        "ROTOR-HMAC-SHA256 " + GOOD + ", Nonce=" + "m" * 16,
        "ROTOR-HMAC-SHA256 " + GOOD + ", Extra=1",
        "ROTOR-HMAC-SHA256 " + GOOD.replace("n" * 16, "n" * 15),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("n" * 16, "n" * 129),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("n" * 16, "n" * 15 + "+"),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("a" * 64, "a" * 63),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("a" * 64, "g" * 64),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("1767225600", "-1767225600"),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("1767225600", "2026-01-01T00:00:00Z"),
        "ROTOR-HMAC-SHA256 " + GOOD.replace("RKID", "RK ID"),
    ],
)
def test_malformed_authorization_is_unauthenticated(value: str) -> None:
    with pytest.raises(errors.Unauthenticated) as caught:
        rotor_signature.parse_authorization(value)
    assert type(caught.value) is errors.Unauthenticated


def test_fields_in_any_order() -> None:
    reordered = "ROTOR-HMAC-SHA256 Signature=" + "A" * 64 + ",Nonce=" + "n" * 16
    auth = rotor_signature.parse_authorization(reordered + ",Timestamp=1,Credential=RKID")
    assert (auth.access_key_id, auth.signature) == ("RKID", "a" * 64)


# -- the verifier, on a real store -----------------------------------------------------------


class Signer:
    """Signs requests to a verifier with one key, as a client would."""

    def __init__(
        self,
        store: Store,
        *,
        session: bool = False,
        now: float | None = None,
        expires_in_seconds: float | None = None,
    ) -> None:
        principal = principals.create_principal(store, unique("signer"))
        principals.attach_policy(store, principal.name, keys.ADMIN_POLICY)
        policy = json.dumps(policies.ADMINISTRATOR) if session else None
        self.key_id, self.secret, self.token = keys.create_access_key(
            store, principal, session_policy=policy, expires_in_seconds=expires_in_seconds
        )
        self.now = now

    def headers(self, *, nonce: str | None = None, token: str | None = None) -> dict[str, str]:
        nonce = nonce or uuid.uuid4().hex
        stamp = str(int(time.time() if self.now is None else self.now))
        token = self.token if token is None else token
        text = protocol.string_to_sign(
            method="GET",
            path="/v1/secrets",
            query="",
            body=b"",
            timestamp=stamp,
            nonce=nonce,
            security_token=token,
        )
        authorization = (
            f"ROTOR-HMAC-SHA256 Credential={self.key_id}, Timestamp={stamp}, Nonce={nonce}, "
            f"Signature={rotor_signature.signature(self.secret, text)}"
        )
        return {"authorization": authorization, "token": token}


def verify(verifier: rotor_signature.Verifier, headers: dict[str, str]) -> keys.Identity:
    return verifier.authenticate(
        authorization=headers["authorization"],
        method="GET",
        path="/v1/secrets",
        query="",
        body=b"",
        security_token=headers["token"] or None,
    )


@pytest.fixture
def verifier(store: Store) -> rotor_signature.Verifier:
    keys.ensure_admin_policy(store)
    return rotor_signature.Verifier(keys.Authenticator(store, cache_seconds=5))


def test_verifier_accepts_once(store: Store, verifier: rotor_signature.Verifier) -> None:
    signer = Signer(store)
    headers = signer.headers()
    assert verify(verifier, headers).access_key_id == signer.key_id
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, headers)  # the same nonce again
    # A second verifier (another node) sees the nonce in the shared store.
    other = rotor_signature.Verifier(keys.Authenticator(store, cache_seconds=5))
    with pytest.raises(errors.Unauthenticated):
        verify(other, headers)
    assert verify(other, signer.headers()).access_key_id == signer.key_id


@pytest.mark.parametrize("skew", [-20 * 60, -(15 * 60 + 5), 15 * 60 + 5, 20 * 60])
def test_verifier_refuses_stale_and_future_timestamps(
    store: Store, verifier: rotor_signature.Verifier, skew: int
) -> None:
    signer = Signer(store, now=time.time() + skew)
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, signer.headers())


def test_verifier_accepts_skew_within_the_window(
    store: Store, verifier: rotor_signature.Verifier
) -> None:
    for skew in (-14 * 60, 14 * 60):
        assert verify(verifier, Signer(store, now=time.time() + skew).headers())


def test_refused_requests_do_not_use_up_the_nonce(
    store: Store, verifier: rotor_signature.Verifier
) -> None:
    signer = Signer(store)
    good = signer.headers(nonce="the-nonce-of-this-test")
    forged = dict(good, authorization=good["authorization"][:-64] + "0" * 64)
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, forged)
    assert verify(verifier, good)


def test_verifier_refuses_unknown_disabled_and_expired_keys(
    store: Store, verifier: rotor_signature.Verifier
) -> None:
    signer = Signer(store)
    unknown = signer.headers()
    unknown["authorization"] = unknown["authorization"].replace(signer.key_id, "RKNOSUCHKEY")
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, unknown)
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, Signer(store, expires_in_seconds=-1).headers())
    principals.set_access_key_status(store, signer.key_id, principals.DISABLED)
    verifier.authenticator.forget()
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, signer.headers())


def test_session_key_needs_its_token(store: Store, verifier: rotor_signature.Verifier) -> None:
    signer = Signer(store, session=True)
    assert signer.token
    assert verify(verifier, signer.headers()).access_key_id == signer.key_id
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, signer.headers(token=""))
    # Another last character (a token ending in "x" made "+ 'x'" the same token: 1 in 64).
    wrong = signer.token[:-1] + ("y" if signer.token.endswith("x") else "x")
    with pytest.raises(errors.Unauthenticated):
        verify(verifier, signer.headers(token=wrong))


# -- a real server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_store(rotor_server: RunningServer) -> Iterator[Store]:
    """The shared server's own store, to make keys it does not offer an API for here."""
    store = Store.open(Settings.load({"data_dir": rotor_server.data_dir}, environ={}))
    yield store
    store.close()


@pytest.fixture
def signed(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    with rotor_server.client(signing="hmac") as client:
        yield client


@pytest.fixture
def http(rotor_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rotor_server.url, timeout=30.0) as client:
        yield client


def test_signed_reads_and_writes(signed: rotor.client.Client) -> None:
    assert signed.config.signing == "hmac"
    prefix = unique("signed")
    name = f"{prefix}/app/db"
    signed.create_secret(name, value="v1", description="signed", tags={"team": "pay"})
    signed.put_value(name, "v2 with spaces & symbols +=/", version_id="v2")
    assert signed.get_value(name).value == "v2 with spaces & symbols +=/"
    assert signed.get_value(name, stage="Previous").value == "v1"
    assert signed.get_value(name, version_id="v2").version_id == "v2"
    signed.put_value(name, b"\x00\xffbinary", version_id="v3")
    assert signed.get_value(name).value == b"\x00\xffbinary"
    signed.update_secret(name, description="changed")
    assert signed.describe_secret(name).description == "changed"
    listed = signed.list_secrets(prefix=f"{prefix}/", tags={"team": "pay"}, page_size=5)
    assert [s.name for s in listed.items] == [name]
    assert len(signed.generate_password(length=20, exclude_punctuation=True)) == 20
    deleted = signed.delete_secret(name, recovery_days=7)
    assert deleted.delete_after is not None
    signed.restore_secret(name)
    signed.delete_secret(name, force=True)


def _signed_request(
    rotor_server: RunningServer,
    http: httpx.Client,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: object = None,
    timestamp: int | None = None,
    token: str = "",
    key: tuple[str, str] | None = None,
) -> httpx.Request:
    request = http.build_request(
        method,
        path,
        params=params,
        json=body,
        headers={"X-Rotor-Security-Token": token} if token else None,
    )
    key_id, secret = key or (rotor_server.access_key_id, rotor_server.access_key_secret)
    request.headers["Authorization"] = _signing.authorization(
        request,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        timestamp=timestamp,
    )
    return request


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "Unauthenticated"
    assert body["message"] == errors.Unauthenticated().message  # no hint which part was wrong


Tamper = Callable[[httpx.Request], httpx.Request]


def _rebuilt(request: httpx.Request, **changes: object) -> httpx.Request:
    parts: dict[str, object] = {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "content": request.content,
    }
    parts.update(changes)
    return httpx.Request(**parts)  # type: ignore[arg-type]


TAMPERINGS: dict[str, Tamper] = {
    "method": lambda r: _rebuilt(r, method="PUT"),
    "path": lambda r: _rebuilt(
        r, url=r.url.copy_with(path=r.url.path.replace(":versions", ":stage"))
    ),
    "path-encoding": lambda r: _rebuilt(
        r, url=r.url.copy_with(raw_path=r.url.raw_path.replace(b"/app/", b"/app%2F"))
    ),
    "query-added": lambda r: _rebuilt(r, url=r.url.copy_merge_params({"force": "true"})),
    "query-changed": lambda r: _rebuilt(r, url=r.url.copy_set_param("probe", "2")),
    "body": lambda r: _rebuilt(r, content=r.content.replace(b"original", b"0riginal")),
    "timestamp": lambda r: _rebuilt(
        r,
        headers={
            **r.headers,
            "authorization": r.headers["authorization"].replace("Timestamp=", "Timestamp=1"),
        },
    ),
    "token-added": lambda r: _rebuilt(r, headers={**r.headers, "x-rotor-security-token": "x"}),
}


@pytest.mark.parametrize("part", sorted(TAMPERINGS))
def test_tampered_requests_are_refused(
    rotor_server: RunningServer, http: httpx.Client, signed: rotor.client.Client, part: str
) -> None:
    name = f"{unique('tamper')}/app/db"
    signed.create_secret(name, value="first")
    request = _signed_request(
        rotor_server,
        http,
        "POST",
        f"/v1/secrets/{name}:versions",
        params={"probe": "1"},
        body={"value": "original", "version_id": "v2"},
    )
    tampered = TAMPERINGS[part](request)
    _assert_unauthenticated(http.send(tampered))
    assert signed.get_value(name).value == "first"
    # The untampered request was signed correctly all along.
    assert http.send(request).status_code == 201
    assert signed.get_value(name).value == "original"


def test_replayed_request_is_refused(
    rotor_server: RunningServer, http: httpx.Client, signed: rotor.client.Client
) -> None:
    name = f"{unique('replay')}/db"
    signed.create_secret(name, value="v1")
    read = _signed_request(rotor_server, http, "GET", f"/v1/secrets/{name}:value")
    assert http.send(read).json()["value"] == "v1"
    _assert_unauthenticated(http.send(read))
    write = _signed_request(
        rotor_server, http, "POST", f"/v1/secrets/{name}:versions", body={"value": "v2"}
    )
    assert http.send(write).status_code == 201
    _assert_unauthenticated(http.send(write))
    assert len(signed.list_versions(name).items) == 2


def test_stale_timestamp_is_refused(rotor_server: RunningServer, http: httpx.Client) -> None:
    stale = _signed_request(
        rotor_server, http, "GET", "/v1/secrets", timestamp=int(time.time()) - 20 * 60
    )
    _assert_unauthenticated(http.send(stale))
    fresh = _signed_request(rotor_server, http, "GET", "/v1/secrets")
    assert http.send(fresh).status_code == 200


def test_signature_with_the_wrong_secret_is_refused(
    rotor_server: RunningServer, http: httpx.Client
) -> None:
    forged = _signed_request(
        rotor_server,
        http,
        "GET",
        "/v1/secrets",
        key=(rotor_server.access_key_id, rotor_server.access_key_secret + "x"),
    )
    _assert_unauthenticated(http.send(forged))


def test_session_key_signed_with_its_token(
    rotor_server: RunningServer, server_store: Store, http: httpx.Client
) -> None:
    role = principals.create_principal(server_store, unique("role"), principals.ROLE)
    principals.attach_policy(server_store, role.name, keys.ADMIN_POLICY)
    key_id, secret, token = keys.create_access_key(
        server_store,
        role,
        expires_in_seconds=3600,
        session_policy=json.dumps(policies.ADMINISTRATOR),
    )
    name = f"{unique('session')}/db"
    with rotor.client.Client(
        rotor_server.url,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        signing="hmac",
    ) as client:
        client.create_secret(name, value="by a session")
        assert client.get_value(name).value == "by a session"
    with (
        rotor.client.Client(
            rotor_server.url, access_key_id=key_id, access_key_secret=secret, signing="hmac"
        ) as without_token,
        pytest.raises(errors.Unauthenticated),
    ):
        without_token.get_value(name)
    # The token is signed: sending it without having signed it is refused too.
    unsigned_token = _signed_request(
        rotor_server, http, "GET", f"/v1/secrets/{name}:value", key=(key_id, secret)
    )
    unsigned_token.headers["X-Rotor-Security-Token"] = token
    _assert_unauthenticated(http.send(unsigned_token))


def test_signed_body_over_the_limit(rotor_server: RunningServer, http: httpx.Client) -> None:
    big = {"value": "x" * (1024 * 1024 + 10)}
    request = _signed_request(rotor_server, http, "POST", "/v1/secrets", body=big)
    response = http.send(request)
    assert (response.status_code, response.json()["code"]) == (413, "RequestTooLarge")

    # Without a Content-Length the body is capped as it is read.
    content = json.dumps(big).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 65536):
            yield content[start : start + 65536]

    streamed = http.build_request("POST", "/v1/secrets", content=chunks())
    streamed.headers["Authorization"] = request.headers["Authorization"]
    response = http.send(streamed)
    assert (response.status_code, response.json()["code"]) == (413, "RequestTooLarge")


def test_retries_are_signed_afresh(rotor_server: RunningServer) -> None:
    """A retried request carries a new nonce, so the server does not take it for a replay."""
    seen: list[str] = []
    statuses: list[int] = []

    with httpx.HTTPTransport() as real:

        def flaky(request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["Authorization"])
            answer = real.handle_request(request)
            answer.read()
            answer.close()
            statuses.append(answer.status_code)
            if len(seen) == 1:  # the server used the nonce; the client never hears of it
                return httpx.Response(503, json={"code": "ServiceUnavailable", "message": "m"})
            return httpx.Response(
                answer.status_code, headers=answer.headers, content=answer.content
            )

        with rotor_server.client(
            signing="hmac",
            transport=httpx.MockTransport(flaky),
            retry=rotor.client.Retry(attempts=2, backoff=0.01),
        ) as client:
            client.list_secrets(page_size=1)
    assert statuses == [200, 200]
    assert len(seen) == 2
    assert seen[0] != seen[1]


def test_signing_from_the_environment(rotor_server: RunningServer) -> None:
    env = {**rotor_server.credentials_env, "ROTOR_AUTH": "hmac"}
    with rotor.client.Client(rotor_server.url, environ=env) as client:
        assert client.config.signing == "hmac"
        client.list_secrets(page_size=1)
    with pytest.raises(errors.InvalidParameter, match="ROTOR_AUTH"):
        rotor.client.Client(rotor_server.url, environ={**env, "ROTOR_AUTH": "sigv4"})


def test_readme_example(rotor_server: RunningServer) -> None:
    """The API reference's standard-library signer works as printed."""
    readme = (ROOT / "docs" / "reference" / "api.md").read_text()
    section = readme[readme.index("### Signing with the standard library") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```\n", start)]
    prefix = unique("readme")
    env = {**rotor_server.credentials_env, "ROTOR_URL": rotor_server.url}
    done = subprocess.run(
        [sys.executable, "-c", code.replace("docs/", f"{prefix}/")],
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed, value = done.stdout.splitlines()
    assert f"{prefix}/signed" in listed
    assert value == "v1"


def test_failed_signatures_are_throttled(tmp_path: Path) -> None:
    """As for bearer keys: past a few failures a source's failed attempts wait; its good
    requests do not."""
    server = start_server(tmp_path / "data", env={"ROTOR_AUTH_FAILURE_MAX_DELAY_SECONDS": "1"})
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            wrong = (server.access_key_id, "wrong")
            timings = []
            for _ in range(FREE_FAILURES + 2):
                forged = _signed_request(server, http, "GET", "/v1/secrets", key=wrong)
                started = time.monotonic()
                _assert_unauthenticated(http.send(forged))
                timings.append(time.monotonic() - started)
            assert timings[-2] >= 0.1
            assert timings[-1] >= 0.2
            started = time.monotonic()
            good = _signed_request(server, http, "GET", "/v1/secrets")
            assert http.send(good).status_code == 200
            assert time.monotonic() - started < 0.3  # a further failure would wait 0.4 s
    finally:
        stop_server(server)
