"""TLS of the PostgreSQL functions against a real PostgreSQL with ``ssl = on``.

The server logs every connection, with ``SSL enabled (protocol=…)`` for one over TLS:
that log says how each of the rotation's connections (``application_name =
rotor-rotation``) was made. The non-TLS case (``SSL`` true against a server without
TLS) is in test_single_user.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from rotor.rotation.engine import Engine
from rotor.store.rotations import Status
from tests.nodes.conftest import wait_until
from tests.rotation.postgres.conftest import TlsPostgres
from tests.rotation.postgres.support import Database, make_app

ALTERNATING = "postgres-alternating"
SINGLE = "postgres-single-user"


def _rotation_logins(pg: Database) -> list[str]:
    """The server's "connection authorized" lines of the rotation's connections to ``pg``."""
    return [
        line
        for line in pg.log_path.read_text(errors="replace").splitlines()
        if "connection authorized" in line
        and f"database={pg.name}" in line
        and "application_name=rotor-rotation" in line
    ]


def _all_over_tls(pg: Database, at_least: int) -> None:
    logins = wait_until(
        lambda: found if len(found := _rotation_logins(pg)) >= at_least else None,
        "the rotation's logins in the server log",
    )
    plain = [line for line in logins if "SSL enabled" not in line]
    assert plain == [], plain


def test_ssl_true_rotates_over_verified_tls(
    engine: Engine, tls_pg: Database, postgres_tls_server: TlsPostgres
) -> None:
    app = make_app(
        engine,
        tls_pg,
        fields={"SSL": True},
        parameters={"CaBundle": str(postgres_tls_server.ca)},
    )
    for _ in range(2):
        done = app.rotate()
        assert done.status is Status.SUCCEEDED, done.error
        for stage in ("Current", "Previous"):
            value = app.value(stage=stage)
            assert tls_pg.logs_in(value["AccountName"], value["AccountPassword"]), stage
    # Current, Pending and the master logged in for set and test, twice.
    _all_over_tls(tls_pg, at_least=6)


@pytest.mark.parametrize(
    ("mode", "parameters"),
    [
        # verify-ca checks the chain, not the name: "localhost" is not in the certificate.
        ("verify-ca", {"Endpoint": "localhost"}),
        # require encrypts without verifying: no CA bundle needed.
        ("require", {}),
    ],
)
def test_ssl_mode_verify_ca_and_require_rotate_over_tls(
    engine: Engine,
    tls_pg: Database,
    postgres_tls_server: TlsPostgres,
    mode: str,
    parameters: dict[str, Any],
) -> None:
    options: dict[str, Any] = {"SslMode": mode}
    if mode == "verify-ca":
        options["CaBundle"] = str(postgres_tls_server.ca)
    app = make_app(
        engine, tls_pg, function=SINGLE, fields={"SSL": True, **parameters}, parameters=options
    )
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    assert tls_pg.logs_in(app.account, app.value()["AccountPassword"])
    # set as Current, test as Pending (the refused Pending login in set is never authorized).
    _all_over_tls(tls_pg, at_least=2)


def test_verify_full_checks_the_host_name(
    engine: Engine, tls_pg: Database, postgres_tls_server: TlsPostgres
) -> None:
    app = make_app(
        engine,
        tls_pg,
        function=SINGLE,
        fields={"SSL": True, "Endpoint": "localhost"},
        parameters={"CaBundle": str(postgres_tls_server.ca)},
    )
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "the server's TLS certificate failed verification (sslmode verify-full)" in (
        done.error or ""
    )
    assert tls_pg.logs_in(app.account, app.password)


def test_a_wrong_ca_fails_clearly_and_never_logs_in(
    engine: Engine, tls_pg: Database, postgres_tls_server: TlsPostgres
) -> None:
    app = make_app(
        engine,
        tls_pg,
        function=SINGLE,
        fields={"SSL": True},
        parameters={"CaBundle": str(postgres_tls_server.wrong_ca)},
    )
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "the server's TLS certificate failed verification (sslmode verify-full)" in (
        done.error or ""
    )
    assert app.value()["AccountPassword"] == app.password
    # The control: the test's own login is logged; the rotation never logged in at all.
    assert tls_pg.logs_in(app.account, app.password)
    wait_until(
        lambda: f"user={app.account} database={tls_pg.name}" in tls_pg.log_path.read_text(),
        "the control login in the server log",
    )
    assert _rotation_logins(tls_pg) == []
