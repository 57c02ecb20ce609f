"""Test-wide fixtures. Real services live in tests/services/ and are loaded as plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.mariadb",
    "tests.services.server",
]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no ROTOR_* variables (nor the cloud SDKs' credential variables)."""
    for name in list(os.environ):
        if name.startswith(("ROTOR_", "ALIYUN_", "ALIBABA_CLOUD_")):
            monkeypatch.delenv(name, raising=False)
    yield
