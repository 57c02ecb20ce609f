"""Where a client finds the server and its access key: arguments, environment, data dir.

:func:`resolve_config` turns what the caller gave (or left out) into a
:class:`ClientConfig`. Nothing here touches the network; a missing access key is
not an error until a call needs one (so ``healthz`` works without one). No
message built here ever contains an access key secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from rotor import config, errors

ENV_URL = "ROTOR_URL"
ENV_ACCESS_KEY_ID = "ROTOR_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ROTOR_ACCESS_KEY_SECRET"
ENV_DATA_DIR = "ROTOR_DATA_DIR"
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "admin-credentials.json"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    """An access key, and where it was found (for error messages)."""

    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    source: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_key_id}.{self.access_key_secret}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Where the server is and how to authenticate, resolved by :func:`resolve_config`."""

    url: str
    url_source: str
    credentials: Credentials | None
    missing_credentials: str = ""
    """Why there are no credentials, raised as InvalidParameter by the first call that needs them."""


def resolve_config(
    *,
    url: str | None = None,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Find the server and the access key.

    The URL comes from ``url``, else ``ROTOR_URL``, else ``server.json`` in the data
    dir. Each part of the access key comes from its argument, else the credentials
    file, else ``ROTOR_ACCESS_KEY_ID`` / ``ROTOR_ACCESS_KEY_SECRET``; when no part is
    found anywhere, from ``admin-credentials.json`` in the data dir. The data dir is
    ``data_dir``, else ``ROTOR_DATA_DIR``, else the server's default data dir; the
    default one lends its credentials only to its own server's URL, so a local admin
    key is never sent to a server named elsewhere.
    """
    env = os.environ if environ is None else environ
    explicit_dir = data_dir or env.get(ENV_DATA_DIR) or None
    directory = Path(explicit_dir).expanduser() if explicit_dir else default_data_dir(env)

    if url:
        url_source = "the url argument"
    elif env.get(ENV_URL):
        url, url_source = env[ENV_URL], ENV_URL
    else:
        url, url_source = _url_from_data_dir(directory, explicit=bool(explicit_dir))
    url = _check_url(url.rstrip("/"), url_source)
    from_dir = bool(explicit_dir) or url_source == str(directory / SERVER_FILE)
    credentials, missing = _resolve_credentials(
        access_key_id, access_key_secret, credentials_file, env, directory if from_dir else None
    )
    return ClientConfig(
        url=url, url_source=url_source, credentials=credentials, missing_credentials=missing
    )


def _check_url(url: str, source: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise errors.InvalidParameter(
            f"the server URL from {source} is not an http:// or https:// URL with a host"
        )
    return url


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The data dir ``rotor serve`` uses when none is set (as :func:`config.default_data_dir`)."""
    if environ is os.environ:
        return config.default_data_dir()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rotor"


def _url_from_data_dir(directory: Path, *, explicit: bool) -> tuple[str, str]:
    path = directory / SERVER_FILE
    if not path.is_file():
        where = f"there is no {path}" if explicit else f"{ENV_DATA_DIR} is not set"
        raise errors.InvalidParameter(
            f"no rotor server configured ({where}): set {ENV_URL} (or pass --url), or set "
            f"{ENV_DATA_DIR} (or pass --data-dir) to the data dir of a running `rotor serve`"
        )
    data = _read_json_file(path)
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise errors.InvalidParameter(f'{path} has no "url"')
    return url, str(path)


def _resolve_credentials(
    key_id: str | None,
    key_secret: str | None,
    credentials_file: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    directory: Path | None,
) -> tuple[Credentials | None, str]:
    sources: list[str] = []
    if key_id or key_secret:
        sources.append("arguments")
    if credentials_file:
        path = Path(credentials_file).expanduser()
        file_id, file_secret = _read_credentials_file(path)
        key_id, key_secret = key_id or file_id, key_secret or file_secret
        sources.append(str(path))
    if not key_id and env.get(ENV_ACCESS_KEY_ID):
        key_id = env[ENV_ACCESS_KEY_ID]
        sources.append(ENV_ACCESS_KEY_ID)
    if not key_secret and env.get(ENV_ACCESS_KEY_SECRET):
        key_secret = env[ENV_ACCESS_KEY_SECRET]
        sources.append(ENV_ACCESS_KEY_SECRET)
    if key_id and key_secret:
        return Credentials(
            access_key_id=key_id, access_key_secret=key_secret, source=", ".join(sources)
        ), ""
    if key_id:
        return None, (
            f"an access key id is given but no secret: set {ENV_ACCESS_KEY_SECRET}"
            " or use a credentials file"
        )
    if key_secret:
        return None, f"an access key secret is given but no id: set {ENV_ACCESS_KEY_ID}"
    dir_file = directory / CREDENTIALS_FILE if directory else None
    if dir_file is not None and dir_file.is_file():
        file_id, file_secret = _read_credentials_file(dir_file)
        return Credentials(
            access_key_id=file_id, access_key_secret=file_secret, source=str(dir_file)
        ), ""
    return None, (
        f"no access key: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, use a credentials "
        f"file, or set {ENV_DATA_DIR} to the data dir of a running `rotor serve`"
    )


def _read_credentials_file(path: Path) -> tuple[str, str]:
    data = _read_json_file(path)
    key_id, key_secret = data.get("access_key_id"), data.get("access_key_secret")
    if not isinstance(key_id, str) or not key_id:
        raise errors.InvalidParameter(f'{path} has no "access_key_id"')
    if not isinstance(key_secret, str) or not key_secret:
        raise errors.InvalidParameter(f'{path} has no "access_key_secret"')
    return key_id, key_secret


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.InvalidParameter(f"{path} does not exist") from None
    except PermissionError:
        raise errors.InvalidParameter(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise errors.InvalidParameter(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        # Never chain: the decoder error holds the file's text, which may be a secret.
        raise errors.InvalidParameter(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise errors.InvalidParameter(f"{path} does not hold a JSON object")
    return data
