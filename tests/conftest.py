"""Test-wide fixtures. Real services live in tests/services/ and are loaded as plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rotor.config import Settings
from rotor.store.database import Store

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.mariadb",
    "tests.services.server",
    "tests.services.cloud_sdk",
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
