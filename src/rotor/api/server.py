"""``rotor serve``: initialise the data dir on first start, bind, record the URL, serve."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

from rotor.access import keys
from rotor.api.app import create_app
from rotor.config import Settings
from rotor.store.database import Store
from rotor.store.master_key import write_private_file

log = logging.getLogger("rotor.server")

SERVER_FILE = "server.json"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    store = Store.open(settings)
    written = keys.bootstrap_admin(store, settings.data_dir)
    credentials = settings.data_dir / keys.CREDENTIALS_FILE
    if written:
        print(f"rotor: initialised; admin credentials written to {written} (mode 0600)", flush=True)
    elif credentials.exists():
        print(f"rotor: admin credentials are in {credentials}", flush=True)
    sock = _bind(settings.host, settings.port)
    url = _url(sock, settings.host)
    server_file = settings.data_dir / SERVER_FILE
    write_private_file(server_file, json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    print(f"rotor: serving on {url} (data dir {settings.data_dir})", flush=True)
    config = uvicorn.Config(
        create_app(settings, store, api_url=url),
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        loop="auto",
        http="auto",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler that
    # was installed before it: make that a clean exit, so the cleanup below runs.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        try:
            recorded = json.loads(server_file.read_text())
            if recorded.get("pid") == os.getpid():
                server_file.unlink()
        except (OSError, ValueError):
            pass
        store.close()
