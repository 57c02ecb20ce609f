"""Test-wide fixtures. Real services live in tests/services/ and are loaded as plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rotor.access.keys import Identity
from rotor.settings import Settings
from rotor.store.database import Store

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.mariadb",
    "tests.services.server",
    "tests.services.cloud_sdk",
    "tests.services.webhook_receiver",
]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no ROTOR_* variables (nor the cloud SDKs' credential variables)."""
    for name in list(os.environ):
        if name.startswith(("ROTOR_", "ALIYUN_", "ALIBABA_CLOUD_")):
            monkeypatch.delenv(name, raising=False)


def make_settings(tmp_path: Path, database_url: str = "", **extra: Any) -> Settings:
    """Settings for a store in ``tmp_path/data``, ignoring the environment."""
    overrides = {"data_dir": tmp_path / "data", "database_url": database_url, **extra}
    return Settings.load(overrides, environ={})


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of a fresh store: SQLite in a temp dir, or a fresh PostgreSQL database."""
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else ""
    return make_settings(tmp_path, url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings)
    yield opened
    opened.close()


def admin_identity(store: Store) -> Identity:
    """An administrator's identity (the principal is made on first use): it may delegate
    anything, as the ``admin`` of a real server may."""
    from rotor.access import delegation, keys
    from rotor.store import principals

    keys.ensure_admin_policy(store)
    admin = principals.get_principal(store, "test-admin")
    if admin is None:
        admin = principals.create_principal(store, "test-admin")
        principals.attach_policy(store, "test-admin", keys.ADMIN_POLICY)
    identity = delegation.principal_identity(store, admin.id)
    assert identity is not None
    return identity
