"""Drive ``aliyun-secret-manager-client`` 0.1.5 (unmodified) against a rotor server.

Runs under ``.venv-cloud`` (tests/aliyun/test_caching_clients.py passes this file's text to
``run_cloud_script``). Its settings come as JSON in the ``CACHE_TEST`` variable:

- ``work``: a directory of the test's own; the script runs there (no stray
  ``secretsmanager.properties`` is read) and talks to the test through files in it;
- ``mode``: ``env`` (``SecretManagerCacheClientBuilder.new_client()``, configured only by the
  ``cache_client_region_id`` / ``credentials_*`` variables) or ``builder``;
- ``endpoint``, ``access_key_id``, ``access_key_secret``, ``security_token`` (builder mode);
- ``name``: the secret; ``missing``: a name that does not exist; ``ttl_ms``: optional
  ``with_secret_ttl`` for the secret (builder mode).

The steps: read the secret twice, write ``first.json``, wait for ``go`` (the test rotates the
secret meanwhile), read once more (still the cached value), ``refresh_now``, read again, read
the missing secret, then print one JSON document. With ``ttl_ms``, instead of the
``refresh_now`` step it reads until the value changes (the TTL ran out).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

CONFIG = json.loads(os.environ["CACHE_TEST"])
WORK = pathlib.Path(CONFIG["work"])
os.chdir(WORK)

from alibaba_cloud_secretsmanager_client.model.region_info import RegionInfo  # noqa: E402
from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import (  # noqa: E402
    SecretManagerCacheClientBuilder,
)
from alibaba_cloud_secretsmanager_client.service.default_secret_manager_client_builder import (  # noqa: E402
    DefaultSecretManagerClientBuilder,
)
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException  # noqa: E402
from aliyunsdkcore.auth.credentials import StsTokenCredential  # noqa: E402

GO_TIMEOUT = 60.0
EXPIRY_TIMEOUT = 20.0


def info_of(info: object) -> dict[str, object]:
    fields = (
        "secret_name",
        "version_id",
        "secret_value",
        "secret_data_type",
        "secret_type",
        "create_time",
        "automatic_rotation",
        "rotation_interval",
        "next_rotation_date",
        "extended_config",
    )
    return {field: getattr(info, field, None) for field in fields}


def build() -> object:
    if CONFIG["mode"] == "env":
        return SecretManagerCacheClientBuilder.new_client()
    inner = DefaultSecretManagerClientBuilder.standard()
    if CONFIG.get("security_token"):
        inner = inner.with_credentials(
            StsTokenCredential(
                CONFIG["access_key_id"], CONFIG["access_key_secret"], CONFIG["security_token"]
            )
        )
    else:
        inner = inner.with_access_key(CONFIG["access_key_id"], CONFIG["access_key_secret"])
    inner = inner.add_region_info(RegionInfo("cn-hangzhou", endpoint=CONFIG["endpoint"]))
    builder = SecretManagerCacheClientBuilder.new_cache_client_builder(inner.build())
    if CONFIG.get("ttl_ms"):
        builder = builder.with_secret_ttl(CONFIG["name"], CONFIG["ttl_ms"])
    return builder.build()


def error_of(error: Exception) -> dict[str, object]:
    out: dict[str, object] = {"type": type(error).__name__}
    if isinstance(error, ServerException | ClientException):
        out["code"] = error.get_error_code()
        out["message"] = error.get_error_msg()
    if isinstance(error, ServerException):
        out["status"] = error.get_http_status()
        out["request_id"] = error.get_request_id()
    return out


def main() -> dict[str, object]:
    name = CONFIG["name"]
    out: dict[str, object] = {}
    cache = build()
    try:
        out["first"] = info_of(cache.get_secret_info(name))
        out["second_value"] = cache.get_secret_value(name)
        (WORK / "first.json").write_text(json.dumps(out))
        deadline = time.monotonic() + GO_TIMEOUT
        while not (WORK / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never wrote the go file")
            time.sleep(0.05)
        if CONFIG.get("ttl_ms"):
            # No refresh_now: the TTL runs out, and the next read (or the client's
            # scheduled refresh) fetches the new value.
            started = time.monotonic()
            value = cache.get_secret_value(name)
            while value == out["second_value"] and time.monotonic() - started < EXPIRY_TIMEOUT:
                time.sleep(0.2)
                value = cache.get_secret_value(name)
            out["waited_seconds"] = time.monotonic() - started
        else:
            out["before_refresh_value"] = cache.get_secret_value(name)
            out["refreshed"] = cache.refresh_now(name)
        out["after"] = info_of(cache.get_secret_info(name))
        out["after_again_value"] = cache.get_secret_value(name)
        try:
            cache.get_secret_value(CONFIG["missing"])
        except Exception as error:
            out["missing"] = error_of(error)
        else:
            out["missing"] = None
    finally:
        cache.close()
    return out


print(json.dumps(main()))
