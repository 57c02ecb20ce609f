"""Where a client finds the server, its access key and how to trust and sign for it.

:func:`resolve_config` turns what the caller gave (or left out) into a
:class:`ClientConfig`: the URL, the access key, the way requests are
authenticated (a bearer key, or an HMAC signature), and the CA bundle that
verifies an ``https://`` server (:func:`tls_verify`); :data:`DEFAULT_TIMEOUT`
is how long a client waits for the server. Nothing here touches the network; a
missing access key is not an error until a call needs one (so ``healthz`` works
without one). No message built here ever contains an access key secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import httpx

from rotor import errors
from rotor import settings as rotor_settings

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Connect within 5 s; wait at most 30 s for each read, write and pooled connection."""

ENV_URL = "ROTOR_URL"
ENV_ACCESS_KEY_ID = "ROTOR_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ROTOR_ACCESS_KEY_SECRET"
ENV_SECURITY_TOKEN = "ROTOR_SECURITY_TOKEN"
ENV_DATA_DIR = "ROTOR_DATA_DIR"
ENV_AUTH = "ROTOR_AUTH"
ENV_CA_BUNDLE = "ROTOR_CA_BUNDLE"
ENV_CONFIG = "ROTOR_CONFIG"
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "admin-credentials.json"
#: The settings a client config file may hold (every value a string).
_CONFIG_KEYS = {
    "url": ENV_URL,
    "access_key_id": ENV_ACCESS_KEY_ID,
    "access_key_secret": ENV_ACCESS_KEY_SECRET,
    "security_token": ENV_SECURITY_TOKEN,
    "signing": ENV_AUTH,
    "ca_bundle": ENV_CA_BUNDLE,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    """An access key, and where it was found (for error messages)."""

    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    source: str
    #: The session token of short-lived (assumed-role) credentials.
    security_token: str = dataclasses.field(default="", repr=False)

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_key_id}.{self.access_key_secret}"


Signing = Literal["bearer", "hmac"]
"""How requests carry the access key: ``bearer`` sends the secret, ``hmac`` signs each
request with it (``ROTOR-HMAC-SHA256``), so the secret never travels."""

SIGNING_MODES: tuple[str, ...] = get_args(Signing)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Where the server is and how to authenticate, resolved by :func:`resolve_config`."""

    url: str
    url_source: str
    credentials: Credentials | None
    missing_credentials: str = ""
    """Why there are no credentials, raised as InvalidParameter by the first call that needs them."""
    signing: Signing = "bearer"
    ca_bundle: str | None = None
    """A PEM file of CA certificates that replaces the default ones for ``https://``."""
    ca_bundle_source: str = ""


def resolve_config(
    *,
    url: str | None = None,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    signing: Signing | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Find the server and the access key, and how to sign and verify.

    Each setting comes from its argument, else its environment variable, else the
    client config file (``ROTOR_CONFIG``, else ``$XDG_CONFIG_HOME/rotor/client.json``
    when it exists: a JSON object with ``url``, ``access_key_id``,
    ``access_key_secret``, ``security_token``, ``signing``, ``ca_bundle``), else the
    data dir. So the URL comes from ``url``, else ``ROTOR_URL``, else the config file,
    else ``server.json`` in the data dir. Each part of the access key comes from its
    argument, else the credentials file, else ``ROTOR_ACCESS_KEY_ID`` /
    ``ROTOR_ACCESS_KEY_SECRET``, else the config file; when no part is found anywhere,
    from ``admin-credentials.json`` in the data dir. The data dir is
    ``data_dir``, else ``ROTOR_DATA_DIR``, else the server's default data dir; the
    default one lends its credentials only to its own server's URL, so a local admin
    key is never sent to a server named elsewhere.

    ``signing`` is ``signing``, else ``ROTOR_AUTH``, else the config file, else
    ``bearer``; the CA bundle is ``ca_bundle``, else ``ROTOR_CA_BUNDLE``, else the
    config file, else none (the default CAs).
    """
    given = os.environ if environ is None else environ
    from_file, config_path = _read_config_file(given)
    if given.get(ENV_ACCESS_KEY_ID) or given.get(ENV_ACCESS_KEY_SECRET):
        # A key is never assembled from the environment and the file together.
        for name in (ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN):
            from_file.pop(name, None)
    env: Mapping[str, str] = {**from_file, **given} if from_file else given
    explicit_dir = data_dir or env.get(ENV_DATA_DIR) or None
    directory = Path(explicit_dir).expanduser() if explicit_dir else default_data_dir(env)

    if url:
        url_source = "the url argument"
    elif given.get(ENV_URL):
        url, url_source = given[ENV_URL], ENV_URL
    elif env.get(ENV_URL):
        url, url_source = env[ENV_URL], str(config_path)
    else:
        url, url_source = _url_from_data_dir(directory, explicit=bool(explicit_dir))
    url = _check_url(url.rstrip("/"), url_source)
    from_dir = bool(explicit_dir) or url_source == str(directory / SERVER_FILE)
    credentials, missing = _resolve_credentials(
        access_key_id,
        access_key_secret,
        security_token,
        credentials_file,
        env,
        directory if from_dir else None,
    )
    if ca_bundle:
        bundle, bundle_source = str(Path(ca_bundle).expanduser()), "the ca_bundle argument"
    elif env.get(ENV_CA_BUNDLE):
        bundle, bundle_source = str(Path(env[ENV_CA_BUNDLE]).expanduser()), ENV_CA_BUNDLE
    else:
        bundle, bundle_source = None, ""
    return ClientConfig(
        url=url,
        url_source=url_source,
        credentials=credentials,
        missing_credentials=missing,
        signing=_signing(signing, env),
        ca_bundle=bundle,
        ca_bundle_source=bundle_source,
    )


def config_file(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The client config file, and whether ``ROTOR_CONFIG`` named it (then it must exist)."""
    named = environ.get(ENV_CONFIG)
    if named:
        return Path(named).expanduser(), True
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rotor" / "client.json", False


def _read_config_file(environ: Mapping[str, str]) -> tuple[dict[str, str], Path | None]:
    """The config file's settings under their environment variables' names (and its path)."""
    path, named = config_file(environ)
    if not named and not path.is_file():
        return {}, None
    data = _read_json_file(path)
    settings = {}
    for key, value in data.items():
        if key not in _CONFIG_KEYS:
            raise errors.InvalidParameter(
                f"{path}: unknown setting {key!r}; use {', '.join(sorted(_CONFIG_KEYS))}"
            )
        if not isinstance(value, str):
            raise errors.InvalidParameter(f"{path}: {key} must be a string")
        settings[_CONFIG_KEYS[key]] = value
    if ENV_ACCESS_KEY_SECRET in settings and path.stat().st_mode & 0o077:
        raise errors.InvalidParameter(
            f"{path} holds an access key secret but other users may read it: chmod 600 {path}"
        )
    return settings, path


def _signing(given: str | None, env: Mapping[str, str]) -> Signing:
    value, source = (given, "signing") if given else (env.get(ENV_AUTH) or "bearer", ENV_AUTH)
    if value == "bearer":
        return "bearer"
    if value == "hmac":
        return "hmac"
    raise errors.InvalidParameter(
        f"{source} must be one of {', '.join(SIGNING_MODES)}, not {value!r}"
    )


def tls_verify(
    client_config: ClientConfig, verify: bool | str | ssl.SSLContext = True
) -> bool | ssl.SSLContext:
    """What httpx's ``verify`` should be: ``verify`` as given (False turns checking off,
    a context is used as it is), a context trusting the CA bundle when there is one
    (``verify`` as a path names one too), else True (httpx's default CAs)."""
    if verify is False or isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        bundle, source = verify, "the verify argument"
    elif client_config.ca_bundle:
        bundle, source = client_config.ca_bundle, client_config.ca_bundle_source
    else:
        return True
    try:
        return ssl.create_default_context(cafile=bundle)
    except FileNotFoundError:
        raise errors.InvalidParameter(
            f"the CA bundle {bundle} (from {source}) does not exist"
        ) from None
    except ssl.SSLError:  # before OSError, its base class
        raise errors.InvalidParameter(
            f"the CA bundle {bundle} (from {source}) holds no PEM certificate"
        ) from None
    except OSError as exc:
        raise errors.InvalidParameter(
            f"cannot read the CA bundle {bundle} (from {source}): {exc.strerror or exc}"
        ) from None


def proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, as httpx.Client's ``trust_env`` finds it:
    ``HTTPS_PROXY`` or ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``; none for a
    host ``NO_PROXY`` lists."""
    split = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(split.netloc):
        return None
    proxies = urllib.request.getproxies()
    found = proxies.get(split.scheme) or proxies.get("all")
    if not found:
        return None
    return found if "://" in found else f"http://{found}"


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
    """The data dir ``rotor serve`` uses when none is set (as :func:`rotor_settings.default_data_dir`)."""
    if environ is os.environ:
        return rotor_settings.default_data_dir()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rotor"


def _url_from_data_dir(directory: Path, *, explicit: bool) -> tuple[str, str]:
    path = directory / SERVER_FILE
    if not path.is_file():
        if explicit:
            raise errors.InvalidParameter(
                f"no rotor server configured: there is no {path}, which `rotor serve "
                f"--data-dir {directory}` writes while it runs; start it, or set {ENV_URL} "
                "(or pass --url) to a server's URL"
            )
        raise errors.InvalidParameter(
            f"no rotor server configured ({ENV_DATA_DIR} is not set): set {ENV_URL} (or pass "
            f"--url), or set {ENV_DATA_DIR} (or pass --data-dir) to the data dir of a running "
            "`rotor serve`"
        )
    data = _read_json_file(path)
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise errors.InvalidParameter(f'{path} has no "url"')
    return url, str(path)


def _resolve_credentials(
    key_id: str | None,
    key_secret: str | None,
    security_token: str | None,
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
            access_key_id=key_id,
            access_key_secret=key_secret,
            source=", ".join(sources),
            security_token=security_token or env.get(ENV_SECURITY_TOKEN, ""),
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
    if directory is not None and (directory / SERVER_FILE).is_file():
        # A node of a store another node created: the admin key was written there.
        return None, (
            f"no access key: {directory} has the {SERVER_FILE} of a `rotor serve` but no "
            f"{CREDENTIALS_FILE} (a node of a store another node made?): run "
            "`rotor node join-bundle --output FILE` on an existing node and `rotor node join "
            f"FILE --data-dir {directory}` here, or set {ENV_ACCESS_KEY_ID} and "
            f"{ENV_ACCESS_KEY_SECRET}"
        )
    if directory is not None:
        return None, (
            f"no access key: there is no {dir_file}; set {ENV_ACCESS_KEY_ID} and "
            f"{ENV_ACCESS_KEY_SECRET}, or use a credentials file"
        )
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
