"""A client builds each request's URL once per path and query, and builds the one httpx would."""

from __future__ import annotations

import httpx
import pytest

from rotor.client import _calls, _operations_secrets


def _call(path: str, params: tuple[tuple[str, str], ...] = ()) -> _calls.Call[object]:
    return _calls.Call(method="GET", path=path, params=params, parse=lambda data: data)


@pytest.mark.parametrize("base", ["http://127.0.0.1:8200", "https://rotor.example/prefix/"])
@pytest.mark.parametrize(
    ("path", "params"),
    [
        (_operations_secrets.secret_path("app/db", "value"), ()),
        (_operations_secrets.secret_path("a/./b/../c", "value"), (("stage", "Previous"),)),
        ("/v1/secrets", (("page_size", "10"), ("page_token", "a b&c=d/é"), ("prefix", "x+y"))),
        ("/v1/secrets/sp%20ace%2Fslash", (("version_id", "v1"), ("version_id", "v2"))),
        ("/v1/nodes?already=1", ()),
        ("/v1/nodes?already=1&same=0", (("same", "1"), ("new", "2"))),
    ],
)
def test_url_is_the_one_httpx_builds(
    base: str, path: str, params: tuple[tuple[str, str], ...]
) -> None:
    with httpx.Client(base_url=base) as http:
        expected = http.build_request("GET", path, params=params or None).url
        urls: _calls.URLs = {}
        first = _calls.url(http.base_url, _call(path, params), urls)
        again = _calls.url(http.base_url, _call(path, params), urls)
    assert str(first) == str(expected)
    assert first.raw_path == expected.raw_path
    assert again is first


def test_url_cache_stays_bounded() -> None:
    urls: _calls.URLs = {}
    with httpx.Client(base_url="http://127.0.0.1:8200") as http:
        for n in range(1000):
            _calls.url(http.base_url, _call(f"/v1/secrets/s{n}"), urls)
    assert 0 < len(urls) <= 256
