"""Throwaway MariaDB servers for the test suite (a pytest plugin).

Fixtures:

- ``mariadb_server`` (session): one real ``mariadbd`` in a temporary directory, listening
  on 127.0.0.1 on a free port, with an ``admin`` account (random password, all privileges
  with grant option). Returns a :class:`MariaDBServer`.
- ``mariadb_database`` (function): a fresh, uniquely named schema on ``mariadb_server``
  for one test; yields its name and drops it afterwards.
- ``mariadb_tls_server`` (session): a second ``mariadbd`` with TLS, using a CA, server
  certificate and client certificate generated for the session. Returns a
  :class:`MariaDBTLSServer`.

Helpers: :func:`general_log` records what a server is sent, :func:`client_runs` logs in
with the ``mariadb`` command-line client (which has auth plugins PyMySQL lacks).

Servers start lazily (only if a test asks for one) and once per session. If the binaries
are missing the fixtures fail (they never skip): install them with
``apt-get install mariadb-server`` or ``.ci/install-system-packages``.

As root, ``mariadb-install-db`` runs as the ``mysql`` user and ``mariadbd`` gets
``--user=mysql`` (it refuses to run as root). Neither reads ``/etc/mysql``
(``--no-defaults``). Setup goes through the unix socket as ``root``, which the
``unix_socket`` plugin lets in because this process runs as OS user root.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pymysql.connections import Connection

MARIADBD_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
INSTALL_DB_CANDIDATES = ("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
CLIENT_CANDIDATES = ("/usr/bin/mariadb", "/usr/bin/mysql")
SYSTEM_USER = "mysql"
HOST = "127.0.0.1"
# Not $TMPDIR: the mysql user must be able to reach our directories, and unix socket
# paths must stay short.
TMP_DIR = Path("/tmp")  # noqa: S108
ADMIN_USER = "admin"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 5
CONNECT_TIMEOUT = 5

# Options for both mariadb-install-db (it passes them on) and mariadbd: durability off
# (a test server is thrown away), small memory, nothing that needs extra directories.
SERVER_OPTIONS: tuple[str, ...] = (
    "--skip-name-resolve",
    "--innodb-flush-log-at-trx-commit=0",
    "--skip-innodb-doublewrite",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    "--skip-log-bin",
)


@dataclass(frozen=True)
class MariaDBServer:
    """A running throwaway MariaDB server and its admin account."""

    host: str
    port: int
    user: str
    password: str
    socket: Path
    version: str
    data_dir: Path

    def connect(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        **kwargs: Any,
    ) -> Connection[Any]:
        """A PyMySQL connection over TCP (the admin account unless ``user`` is given).

        Without any ``ssl``/``ssl_*`` argument the connection is plain: it passes
        ``ssl_disabled=True``, because PyMySQL otherwise builds a TLS context on every
        connect and (since 1.2) silently tries unverified TLS when the server offers it.
        """
        if user is None:
            user = self.user
            if password is None:
                password = self.password
        if not any(name == "ssl" or name.startswith("ssl_") for name in kwargs):
            kwargs["ssl_disabled"] = True
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password or "",
            database=database,
            **kwargs,
        )


@dataclass(frozen=True)
class MariaDBTLSServer(MariaDBServer):
    """A MariaDB server with TLS, plus the CA and a client certificate it trusts."""

    ca_cert: Path
    client_cert: Path
    client_key: Path

    def ssl_params(self, *, client_cert: bool = False) -> dict[str, str]:
        """PyMySQL ``ssl=`` dict verifying the server (and presenting the client cert)."""
        params = {"ca": str(self.ca_cert)}
        if client_cert:
            params.update(cert=str(self.client_cert), key=str(self.client_key))
        return params

    def ssl_context(self, *, client_cert: bool = False) -> ssl.SSLContext:
        """A reusable client TLS context trusting the test CA (pass as PyMySQL ``ssl=``)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        if client_cert:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def _find_binary(candidates: Sequence[str], what: str) -> str:
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(Path(candidates[0]).name)
    if found:
        return found
    pytest.fail(
        f"MariaDB {what} not found (looked for {', '.join(candidates)}). The tests need a "
        "real MariaDB: run `apt-get install mariadb-server mariadb-client` "
        "(or .ci/install-system-packages).",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _system_user_ids() -> tuple[int, int] | None:
    """(uid, gid) of the mysql user if we are root (and must switch to it), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pytest.fail(
            f"No '{SYSTEM_USER}' system user to run MariaDB as (it refuses root): "
            "run `apt-get install mariadb-server`.",
            pytrace=False,
        )
    return entry.pw_uid, entry.pw_gid


def _os_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _chown_tree(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is None:
        return
    os.chown(path, *owner)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), *owner)


# --------------------------------------------------------------------------------------
# TLS material


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject_cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    san: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not is_ca,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def generate_tls_files(directory: Path) -> TLSFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("rotor test CA", ca_key, None, ca_key, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        "localhost",
        server_key,
        ca,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate(
        "rotor test client", client_key, ca, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files = TLSFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server-cert.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client-cert.pem",
        client_key=directory / "client-key.pem",
    )
    for path, cert in (
        (files.ca_cert, ca),
        (files.server_cert, server),
        (files.client_cert, client),
    ):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.server_key, server_key)
    _write_key(files.client_key, client_key)
    return files


# --------------------------------------------------------------------------------------
# Server processes


class _MariaDBProcess:
    """One mariadbd in the foreground (so an early exit is noticed at once)."""

    def __init__(
        self, mariadbd: str, workdir: Path, port: int, socket_path: Path, extra: Sequence[str]
    ) -> None:
        self.port = port
        self.socket_path = socket_path
        self.error_log = workdir / f"error-{port}.log"
        self.console_log = workdir / f"console-{port}.log"
        argv = [
            mariadbd,
            "--no-defaults",
            f"--datadir={workdir / 'data'}",
            f"--tmpdir={workdir / 'tmp'}",
            f"--pid-file={workdir / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            f"--bind-address={HOST}",
            f"--port={port}",
            f"--socket={socket_path}",
            *SERVER_OPTIONS,
            *extra,
        ]
        if os.geteuid() == 0:
            argv.insert(2, f"--user={SYSTEM_USER}")
        with self.console_log.open("wb") as console:
            self.proc = subprocess.Popen(
                argv,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                # Own process group: a Ctrl-C in the terminal must not reach the server
                # before the session teardown stops it cleanly.
                start_new_session=True,
            )

    def logs(self) -> str:
        return (
            f"error log {self.error_log}:\n{_tail(self.error_log)}\n"
            f"console {self.console_log}:\n{_tail(self.console_log, 10)}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # orderly shutdown, like mariadb-admin
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def _socket_connect(socket_path: Path) -> Connection[Any]:
    """Root (the OS user, via the unix_socket plugin) over the unix socket."""
    return pymysql.connect(
        unix_socket=str(socket_path),
        user=_os_user(),
        connect_timeout=CONNECT_TIMEOUT,
        autocommit=True,
        # PyMySQL >= 1.2 otherwise tries TLS ("preferred"), even over the socket.
        ssl_disabled=True,
    )


def _wait_until_ready(process: _MariaDBProcess) -> str | None:
    """Poll until a socket login works; returns the server version.

    Returns None if the server exited because its port was taken (the caller retries with
    another port); fails the test on any other exit or on timeout.
    """
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            if "Address already in use" in _tail(process.error_log):
                return None
            pytest.fail(
                f"mariadbd exited during startup (exit {process.proc.returncode}); "
                f"{process.logs()}",
                pytrace=False,
            )
        if process.socket_path.exists():
            try:
                with _socket_connect(process.socket_path) as conn, conn.cursor() as cursor:
                    cursor.execute("SELECT VERSION()")
                    row = cursor.fetchone()
                    assert row is not None
                    return str(row[0])
            except pymysql.err.OperationalError as exc:
                last_error = exc
        time.sleep(0.02)
    pytest.fail(
        f"mariadbd did not accept connections within {START_TIMEOUT:.0f}s "
        f"(last error: {last_error}); {process.logs()}",
        pytrace=False,
    )


def _create_admin(socket_path: Path, password: str) -> None:
    with _socket_connect(socket_path) as conn, conn.cursor() as cursor:
        secret = conn.escape(password)  # no query args: the host '%' must stay literal
        for host in ("%", "localhost"):
            cursor.execute(f"CREATE USER '{ADMIN_USER}'@'{host}' IDENTIFIED BY {secret}")
            cursor.execute(
                f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{host}' WITH GRANT OPTION"
            )


@contextlib.contextmanager
def run_mariadb_server(name: str = "mariadb", *, tls: bool = False) -> Iterator[MariaDBServer]:
    """Install, start, and finally stop and delete a throwaway MariaDB server.

    With ``tls`` the server gets a fresh CA, server and client certificate, and the
    yielded object is a :class:`MariaDBTLSServer`.
    """
    mariadbd = _find_binary(MARIADBD_CANDIDATES, "server (mariadbd)")
    install_db = _find_binary(INSTALL_DB_CANDIDATES, "mariadb-install-db")
    owner = _system_user_ids()
    token = secrets.token_hex(6)
    # The socket sits directly in /tmp (a unix socket path is limited to 107 bytes).
    workdir = Path(tempfile.mkdtemp(prefix=f"rotor-{name}-", dir=TMP_DIR))
    socket_path = TMP_DIR / f"rotor-{name}-{token}.sock"
    process: _MariaDBProcess | None = None
    try:
        (workdir / "tmp").mkdir()
        extra: list[str] = []
        tls_files: TLSFiles | None = None
        if tls:
            tls_files = generate_tls_files(workdir / "tls")
            extra += [
                f"--ssl-ca={tls_files.ca_cert}",
                f"--ssl-cert={tls_files.server_cert}",
                f"--ssl-key={tls_files.server_key}",
            ]
        _chown_tree(workdir, owner)

        install = [
            install_db,
            "--no-defaults",
            f"--datadir={workdir / 'data'}",
            f"--auth-root-socket-user={_os_user()}",
            "--skip-test-db",
            *SERVER_OPTIONS,
        ]
        if owner is not None:
            # Run the whole script as mysql rather than passing --user: with --user it
            # also chowns the system's PAM plugin directory.
            install = ["runuser", "-u", SYSTEM_USER, "--", *install]
        result = subprocess.run(
            install,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"mariadb-install-db failed (exit {result.returncode}):\n{result.stdout}",
                pytrace=False,
            )

        version: str | None = None
        for _attempt in range(PORT_ATTEMPTS):
            process = _MariaDBProcess(mariadbd, workdir, _free_port(), socket_path, extra)
            version = _wait_until_ready(process)
            if version is not None:
                break
            process.stop()
            process = None
        if process is None or version is None:
            pytest.fail(f"mariadbd found no free port in {PORT_ATTEMPTS} attempts", pytrace=False)

        password = secrets.token_hex(16)
        _create_admin(socket_path, password)
        common: dict[str, Any] = {
            "host": HOST,
            "port": process.port,
            "user": ADMIN_USER,
            "password": password,
            "socket": socket_path,
            "version": version,
            "data_dir": workdir / "data",
        }
        if tls_files is None:
            yield MariaDBServer(**common)
        else:
            yield MariaDBTLSServer(
                **common,
                ca_cert=tls_files.ca_cert,
                client_cert=tls_files.client_cert,
                client_key=tls_files.client_key,
            )
    finally:
        if process is not None:
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def temporary_database(server: MariaDBServer) -> Iterator[str]:
    """Create a fresh uniquely named schema; yield its name; drop it afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def general_log(server: MariaDBServer) -> Iterator[Callable[[], list[str]]]:
    """Log every statement ``server`` receives while inside; yields a reader of them all.

    The log is the table ``mysql.general_log`` (emptied on entry), read with SQL, so no
    file owned by the mysql user is involved. The server-wide switch is turned off again
    on leaving; the servers are per session and tests run one at a time on them.
    """
    with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SET GLOBAL log_output = 'TABLE'")
        cursor.execute("TRUNCATE TABLE mysql.general_log")
        cursor.execute("SET GLOBAL general_log = ON")

    def statements() -> list[str]:
        with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT argument FROM mysql.general_log")
            rows = cursor.fetchall()
        return [
            value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            for (value,) in rows
        ]

    try:
        yield statements
    finally:
        with server.connect(autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("SET GLOBAL general_log = OFF")


def client_runs(server: MariaDBServer, user: str, password: str, statement: str) -> bool:
    """Whether the ``mariadb`` client logs in as ``user`` over TCP and runs ``statement``.

    The password goes in ``MYSQL_PWD``, never on the command line.
    """
    client = _find_binary(CLIENT_CANDIDATES, "client (mariadb)")
    result = subprocess.run(
        [
            client,
            "--no-defaults",
            f"--host={server.host}",
            f"--port={server.port}",
            f"--user={user}",
            "--skip-ssl",
            "--batch",
            "--execute",
            statement,
        ],
        env={**os.environ, "MYSQL_PWD": password},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CONNECT_TIMEOUT * 4,
        check=False,
    )
    return result.returncode == 0


# --------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """One throwaway MariaDB server for the whole session, started on first use."""
    with run_mariadb_server("mariadb") as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_tls_server() -> Iterator[MariaDBTLSServer]:
    """A second throwaway MariaDB server, with TLS, for the whole session."""
    with run_mariadb_server("mariadb-tls", tls=True) as server:
        assert isinstance(server, MariaDBTLSServer)
        yield server


@pytest.fixture
def mariadb_database(mariadb_server: MariaDBServer) -> Iterator[str]:
    """Name of a fresh schema on ``mariadb_server``, dropped after the test."""
    with temporary_database(mariadb_server) as name:
        yield name
