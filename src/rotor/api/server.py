"""``rotor serve``: initialise the data dir on first start, bind, record the URL, serve.

With ``tls_cert`` and ``tls_key`` the server speaks HTTPS on the socket it bound
itself (uvicorn wraps pre-bound sockets in TLS too) and records an ``https://``
URL. Behind a reverse proxy, ``forwarded_allow_ips`` names the proxies whose
``X-Forwarded-For`` / ``X-Forwarded-Proto`` headers are believed; nobody's are
by default, so a client cannot pick the source address the audit log records
and the throttle counts failures against.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import socket
import ssl
import threading
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import uvicorn

from rotor import errors, metrics
from rotor.access import keys
from rotor.api import logs
from rotor.api.app import create_app
from rotor.api.front import FrontDoor
from rotor.api.native import events as event_routes
from rotor.private_files import write_private_file
from rotor.settings import Settings
from rotor.store import functions
from rotor.store.database import Store

log = logging.getLogger("rotor.server")

SERVER_FILE = "server.json"


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; raises InvalidParameter when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise errors.InvalidParameter(
                f"port {port} on {host} is in use (another rotor?) — stop it or give --port"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def _check_not_served(data_dir: Path) -> None:
    """Raise InvalidParameter when a live rotor serves ``data_dir`` already.

    Its server.json names the pid and URL. The file is stale, and ignored, when that
    process is gone, or is another one now (a reused pid) that does not listen there.
    """
    try:
        recorded = json.loads((data_dir / SERVER_FILE).read_text())
        pid, url = recorded["pid"], recorded["url"]
    except (OSError, ValueError, TypeError, KeyError):
        return
    if not isinstance(pid, int) or not isinstance(url, str) or pid == os.getpid():
        return
    if _alive(pid) and _listening(url):
        raise errors.InvalidParameter(
            f"{data_dir} is already served by rotor (pid {pid}) on {url}: stop it, or give "
            "another --data-dir"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _listening(url: str) -> bool:
    try:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _url(sock: socket.socket, host: str, *, tls: bool = False) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def tls_files(settings: Settings) -> tuple[str, str] | None:
    """(certificate, key) when the server is to speak HTTPS, after checking that they load.

    Raises InvalidParameter when only one is given, or they cannot be used together.
    """
    cert, key = settings.tls_cert, settings.tls_key
    if not cert and not key:
        return None
    if not cert or not key:
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        raise errors.InvalidParameter(
            f"{given} is given without {missing}: HTTPS needs both the certificate and its "
            "key (ROTOR_TLS_CERT and ROTOR_TLS_KEY), or neither for plain HTTP"
        )
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not os.path.isfile(path):
            raise errors.InvalidParameter(f"{flag} {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty password: an encrypted key fails here rather than prompting on a terminal.
        context.load_cert_chain(cert, key, password="")
    except ssl.SSLError as exc:
        raise errors.InvalidParameter(
            f"cannot use the TLS certificate {cert} with the key {key}: they must be PEM "
            f"files, the key unencrypted and matching the certificate ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        raise errors.InvalidParameter(
            f"cannot read the TLS certificate {cert} or key {key}: {exc.strerror or exc}"
        ) from None
    return cert, key


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM: in this process, or in ``settings.workers``
    worker processes sharing the listening socket."""
    # First, so that every line is in the one format: the store's migrations log too.
    logs.configure(settings)
    tls = tls_files(settings)
    # Both before the store is opened: a second start changes nothing.
    _check_not_served(settings.data_dir)
    sock = _bind(settings.host, settings.port)
    store = Store.open(settings)
    written = keys.bootstrap_admin(store, settings.data_dir)
    functions.adopt_unregistered(store, owner=keys.ADMIN)
    credentials = settings.data_dir / keys.CREDENTIALS_FILE
    if written:
        print(f"rotor: initialised; admin credentials written to {written} (mode 0600)", flush=True)
    elif credentials.exists():
        print(f"rotor: admin credentials are in {credentials}", flush=True)
    else:
        print(
            f"rotor: no admin credentials in {settings.data_dir}: the admin was created "
            "elsewhere (by another node sharing this store?). For the CLI here, run `rotor "
            "node join-bundle --output FILE` on a node of this store and `rotor node join FILE "
            f"--data-dir {settings.data_dir}` here; or run `rotor access-key create admin` "
            "against a node and set ROTOR_ACCESS_KEY_ID and ROTOR_ACCESS_KEY_SECRET here, or "
            f"copy its admin-credentials.json to {credentials} (mode 0600)",
            flush=True,
        )
    url = _url(sock, settings.host, tls=tls is not None)
    server_file = settings.data_dir / SERVER_FILE
    write_private_file(server_file, json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(
        f"rotor: serving on {url} as node {settings.node}{workers} (data dir {settings.data_dir})",
        flush=True,
    )
    abandoned = False
    try:
        if settings.workers > 1:
            store.close()
            # Before the workers start: they find it in their environment.
            metrics.prepare_multiprocess_dir(settings.data_dir)
            _supervise(settings, sock, url, tls)
        else:
            abandoned = _run(settings, store, sock, url, tls)
    finally:
        try:
            recorded = json.loads(server_file.read_text())
            if recorded.get("pid") == os.getpid():
                server_file.unlink()
        except (OSError, ValueError):
            pass
    if abandoned:
        # A step blocked in a database holds its thread, which Python cannot stop
        # and would wait for: exit now. Its lease lets the next start resume it.
        logging.shutdown()
        os._exit(0)


def _run(
    settings: Settings, store: Store, sock: socket.socket, url: str, tls: tuple[str, str] | None
) -> bool:
    """Serve on ``sock`` in this process until SIGTERM/SIGINT; closes the store. Returns
    whether rotation steps were abandoned (still blocked when the grace period ended)."""
    front = create_app(settings, store, api_url=url)
    config = uvicorn.Config(
        front,
        log_level=settings.log_level.lower(),
        # uvicorn's loggers propagate to the root handler (rotor.api.logs): none of its own.
        log_config=None,
        access_log=False,
        server_header=False,
        loop="auto",
        http="auto",
        lifespan="on",
        timeout_graceful_shutdown=10,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler that
    # was installed before it: make that a clean exit, so the cleanup after it runs.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        _Server(config, front).run(sockets=[sock])
    finally:
        store.close()
    return bool(front.app.state.rotations_abandoned)


class _Server(uvicorn.Server):
    """uvicorn's server, which first answers the requests waiting for an event when it
    stops: its graceful shutdown waits for every request to finish, and a long poll of
    ``GET /v1/events`` would hold it up (up to 30 s) for an event that may never come."""

    def __init__(self, config: uvicorn.Config, front: FrontDoor) -> None:
        super().__init__(config)
        self.front = front

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await event_routes.stop_waiting(self.front.app)
        await super().shutdown(sockets)


# -- several worker processes ------------------------------------------------------------

#: How long a stopping supervisor waits for its workers (their own grace periods first).
WORKER_STOP_SECONDS = 30.0
#: A worker that dies within this long of its start is started again only after a delay,
#: doubling from the first to the last of RESTART_DELAYS with each such death in a row: one
#: that fails at every start (a store unreachable, a bad setting) is not respawned in a loop.
WORKER_STEADY_SECONDS = 10.0
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker ``index``'s settings: a node of its own, named after the node it is part of."""
    return dataclasses.replace(settings, node_id=f"{settings.node}/{index}", workers=1)


def _worker(settings: Settings, sock: socket.socket, url: str, tls: tuple[str, str] | None) -> None:
    """A worker process: the store opened again (never shared across processes), then
    served on the inherited socket until its supervisor sends SIGTERM, or is gone.

    In a process group of its own: a Ctrl-C (SIGINT to the terminal's group) reaches only
    the supervisor, which stops each worker with one SIGTERM; a second signal arriving
    while a worker's server winds down would break its graceful stop."""
    os.setpgid(0, 0)
    logs.configure(settings)
    _stop_with_supervisor()
    store = Store.open(settings, initialise=False)
    if _run(settings, store, sock, url, tls):
        logging.shutdown()
        os._exit(0)


def _stop_with_supervisor() -> None:
    """Stop this worker gracefully, as SIGTERM does, once its supervisor is gone (killed
    with SIGKILL, or crashed): a worker left alone would go on serving the port, where the
    next ``rotor serve`` could not bind, with nobody to stop it."""
    supervisor = multiprocessing.parent_process()
    if supervisor is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([supervisor.sentinel])
        log.error("the supervisor (pid %s) is gone: stopping", supervisor.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def restart_delay(quick_deaths: int) -> float:
    """Seconds before a dead worker is started again, after ``quick_deaths`` deaths in a
    row each within WORKER_STEADY_SECONDS of its start (0: it had run steadily)."""
    if not quick_deaths:
        return 0.0
    return RESTART_DELAYS[min(quick_deaths, len(RESTART_DELAYS)) - 1]


def _supervise(
    settings: Settings, sock: socket.socket, url: str, tls: tuple[str, str] | None
) -> None:
    """Run ``settings.workers`` worker processes on ``sock``; start again one that dies
    (after :func:`restart_delay`, if it died soon after its start); on SIGTERM or SIGINT stop them all. Each worker is a node of its own to the store
    (leases, nonces, the access generation), so they follow the rules several nodes do."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker,
            args=(worker_settings(settings, index), sock, url, tls),
            name=f"rotor-worker-{index}",
        )
        process.start()
        return process

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running = {index: start(index) for index in range(1, settings.workers + 1)}
    started = dict.fromkeys(running, time.monotonic())
    quick_deaths = dict.fromkeys(running, 0)
    restart_at: dict[int, float] = {}  # dead workers, by when they start again
    while not stopping:
        now = time.monotonic()
        for index in [i for i, when in restart_at.items() if when <= now]:
            del restart_at[index]
            running[index], started[index] = start(index), time.monotonic()
        wake = min([0.5, *(when - now for when in restart_at.values())])
        alive = [p.sentinel for i, p in running.items() if i not in restart_at]
        multiprocessing.connection.wait(alive, timeout=max(wake, 0.0))
        for index, process in running.items():
            if stopping or index in restart_at or process.is_alive():
                continue
            if process.pid is not None:
                metrics.process_stopped(process.pid)
            ran = time.monotonic() - started[index]
            quick_deaths[index] = quick_deaths[index] + 1 if ran < WORKER_STEADY_SECONDS else 0
            delay = restart_delay(quick_deaths[index])
            log.error(
                "worker %d exited with status %s; starting it again%s",
                index,
                process.exitcode,
                f" in {delay:.0f} s" if delay else "",
            )
            restart_at[index] = time.monotonic() + delay
    # Closed here first, the socket is gone once the workers close theirs: a connection
    # made while they drain is refused at once, not queued for nobody to accept.
    sock.close()
    for process in running.values():
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in running.values():
        process.join(WORKER_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
