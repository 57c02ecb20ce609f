"""A fresh store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rotor.config import Settings
from rotor.store.database import Store


def make_settings(tmp_path: Path, database_url: str = "", **extra: object) -> Settings:
    return Settings.load(
        {"data_dir": tmp_path / "data", "database_url": database_url, **extra}, environ={}
    )


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else ""
    return make_settings(tmp_path, url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings)
    yield opened
    opened.close()
