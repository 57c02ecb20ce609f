"""Does a refused credential's answer time tell an unknown key id from a wrong secret?

Starts a real ``rotor serve`` on a free port with a fresh data dir (SQLite unless
ROTOR_DATABASE_URL is set; the back-off on failed attempts is off, as in the test
suite), then sends refused requests on one kept-alive connection, interleaved in a
random order each round, and prints the median and p90 answer time of each case:

- *wrong secret*: the admin's key id with a wrong secret;
- *unknown id*: one key id that does not exist, sent again and again;
- *fresh id* (for reference): a new, never seen key id on every request.

for each way of authenticating: a bearer key, a ``ROTOR-HMAC-SHA256`` signed
request, and an RPC v1 signed call of the KMS dialect (which answers
``InvalidAccessKeyId.NotFound`` for an unknown key, as the cloud does). The ratio
is unknown id / wrong secret, of the medians; 1.00 means no hint.

Run from the repository root (it reuses the test suite's server starter):

    .venv/bin/python -m bench.auth_timing [--samples 1000]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import random
import secrets
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.services.server import RunningServer, start_server, stop_server

from rotor.access import aliyun_string_to_sign
from rotor.client import _signing

#: A request: (method, target, headers).
Request = tuple[str, str, dict[str, str]]
READ_TARGET = "/v1/secrets/bench/none:value"


def random_key_id() -> str:
    return "RK" + base64.b32encode(secrets.token_bytes(15)).decode()[:22]


def bearer(key_id: str, secret: str) -> Request:
    return "GET", READ_TARGET, {"Authorization": f"Bearer {key_id}.{secret}"}


def signed(key_id: str, secret: str) -> Request:
    request = httpx.Request("GET", "http://rotor" + READ_TARGET)
    value = _signing.authorization(request, access_key_id=key_id, access_key_secret=secret)
    return "GET", READ_TARGET, {"Authorization": value}


def kms(key_id: str, secret: str) -> Request:
    params = {
        "Action": "GetRandomPassword",
        "Version": "2016-01-20",
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": aliyun_string_to_sign.RPC_V1_METHOD,
        "SignatureVersion": aliyun_string_to_sign.RPC_V1_VERSION,
        "SignatureNonce": secrets.token_hex(16),
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    to_sign = aliyun_string_to_sign.rpc_v1_string_to_sign("GET", params)
    params["Signature"] = aliyun_string_to_sign.rpc_v1_signature(secret, to_sign)
    return "GET", "/?" + urllib.parse.urlencode(params), {}


SCHEMES: dict[str, Callable[[str, str], Request]] = {
    "bearer": bearer,
    "signed": signed,
    "kms": kms,
}


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[float, int]:
    """(milliseconds to the whole answer, status)."""
    method, target, headers = request
    start = time.perf_counter()
    conn.request(method, target, headers=headers)
    response = conn.getresponse()
    response.read()
    return (time.perf_counter() - start) * 1000, response.status


def measure(server: RunningServer, scheme: str, samples: int) -> dict[str, list[float]]:
    make = SCHEMES[scheme]
    unknown = random_key_id()
    cases: dict[str, Callable[[], Request]] = {
        "wrong secret": lambda: make(server.access_key_id, secrets.token_urlsafe(30)),
        "unknown id": lambda: make(unknown, secrets.token_urlsafe(30)),
        "fresh id": lambda: make(random_key_id(), secrets.token_urlsafe(30)),
    }
    times: dict[str, list[float]] = {case: [] for case in cases}
    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        for round_ in range(samples + 50):  # the first 50 rounds warm up
            order = list(cases)
            random.shuffle(order)
            for case in order:
                request = cases[case]()  # built (and signed) outside the timed part
                elapsed, status = send(conn, request)
                if status < 400:
                    raise SystemExit(f"{scheme} {case}: answered {status}, expected a refusal")
                if round_ >= 50:
                    times[case].append(elapsed)
    finally:
        conn.close()
    return times


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1000, help="per case and scheme")
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rotor-bench-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            print(f"refused requests, {args.samples} interleaved samples per case (ms)")
            print(f"{'scheme':<7} {'case':<13} {'median':>7} {'p90':>7}")
            for scheme in args.schemes.split(","):
                times = measure(server, scheme, args.samples)
                for case, values in times.items():
                    median = statistics.median(values)
                    print(f"{scheme:<7} {case:<13} {median:>7.3f} {p90(values):>7.3f}")
                ratio = statistics.median(times["unknown id"]) / statistics.median(
                    times["wrong secret"]
                )
                print(f"{scheme:<7} {'ratio':<13} {ratio:>7.2f}   (unknown id / wrong secret)")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
