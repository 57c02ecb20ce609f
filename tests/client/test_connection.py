"""Where the client finds the server and the access key: arguments, environment, data dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import rotor.client
from rotor import errors
from rotor import settings as rotor_settings
from rotor.client import _connection


def write_data_dir(
    path: Path, *, url: str = "http://127.0.0.1:9999", key: tuple[str, str] = ("RKDIR", "dirsecret")
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "server.json").write_text(json.dumps({"url": url, "pid": 1}))
    creds = path / "admin-credentials.json"
    creds.write_text(json.dumps({"access_key_id": key[0], "access_key_secret": key[1]}))
    creds.chmod(0o600)
    return path


@pytest.fixture
def no_default_dir(tmp_path: Path) -> dict[str, str]:
    """An environment whose default data dir (under XDG_DATA_HOME) is empty."""
    return {"XDG_DATA_HOME": str(tmp_path / "xdg")}


def test_arguments_win(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    env = {
        **no_default_dir,
        "ROTOR_URL": "http://env:1",
        "ROTOR_ACCESS_KEY_ID": "RKENV",
        "ROTOR_ACCESS_KEY_SECRET": "envsecret",
        "ROTOR_DATA_DIR": str(write_data_dir(tmp_path / "d")),
    }
    config = rotor.client.resolve_config(
        url="https://arg:2/", access_key_id="RKARG", access_key_secret="argsecret", environ=env
    )
    assert config.url == "https://arg:2"
    assert config.credentials is not None
    assert config.credentials.authorization == "Bearer RKARG.argsecret"


def test_environment_beats_data_dir(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    env = {
        **no_default_dir,
        "ROTOR_URL": "http://env:1",
        "ROTOR_ACCESS_KEY_ID": "RKENV",
        "ROTOR_ACCESS_KEY_SECRET": "envsecret",
        "ROTOR_DATA_DIR": str(write_data_dir(tmp_path / "d")),
    }
    config = rotor.client.resolve_config(environ=env)
    assert (config.url, config.url_source) == ("http://env:1", "ROTOR_URL")
    assert config.credentials is not None
    assert config.credentials.access_key_id == "RKENV"


def test_data_dir_alone(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    data_dir = write_data_dir(tmp_path / "d", url="http://127.0.0.1:4321")
    for config in (
        rotor.client.resolve_config(data_dir=data_dir, environ=no_default_dir),
        rotor.client.resolve_config(environ={**no_default_dir, "ROTOR_DATA_DIR": str(data_dir)}),
    ):
        assert config.url == "http://127.0.0.1:4321"
        assert config.url_source == str(data_dir / "server.json")
        assert config.credentials is not None
        assert config.credentials.access_key_id == "RKDIR"
        assert config.credentials.access_key_secret == "dirsecret"


def test_default_data_dir(tmp_path: Path) -> None:
    write_data_dir(tmp_path / "xdg" / "rotor", url="http://127.0.0.1:5555")
    config = rotor.client.resolve_config(environ={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert config.url == "http://127.0.0.1:5555"


def test_default_data_dir_is_the_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for xdg in (str(tmp_path), None):
        if xdg is None:
            monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_DATA_HOME", xdg)
        assert _connection.default_data_dir(dict(os.environ)) == rotor_settings.default_data_dir()


def test_default_data_dir_keeps_its_key_for_its_own_server(tmp_path: Path) -> None:
    write_data_dir(tmp_path / "xdg" / "rotor", url="http://127.0.0.1:5555")
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "ROTOR_URL": "https://elsewhere.example"}
    config = rotor.client.resolve_config(environ=env)
    assert config.url == "https://elsewhere.example"
    assert config.credentials is None
    # Named explicitly, a data dir's key goes with any URL.
    explicit = rotor.client.resolve_config(data_dir=tmp_path / "xdg" / "rotor", environ=env)
    assert explicit.credentials is not None


def test_data_dir_credentials_are_not_mixed_with_a_given_id(
    tmp_path: Path, no_default_dir: dict[str, str]
) -> None:
    data_dir = write_data_dir(tmp_path / "d")
    config = rotor.client.resolve_config(
        data_dir=data_dir, access_key_id="RKOTHER", environ=no_default_dir
    )
    assert config.credentials is None
    assert "ROTOR_ACCESS_KEY_SECRET" in config.missing_credentials


def test_credentials_file(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"access_key_id": "RKFILE", "access_key_secret": "filesecret"}))
    env = {**no_default_dir, "ROTOR_ACCESS_KEY_SECRET": "envsecret"}
    config = rotor.client.resolve_config(url="http://x", credentials_file=path, environ=env)
    assert config.credentials is not None
    assert config.credentials.authorization == "Bearer RKFILE.filesecret"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json, filesecret", "not valid JSON"),
        ('["filesecret"]', "JSON object"),
        ('{"access_key_id": "RK"}', "access_key_secret"),
    ],
)
def test_bad_credentials_file(
    tmp_path: Path, no_default_dir: dict[str, str], content: str, message: str
) -> None:
    path = tmp_path / "creds.json"
    path.write_text(content)
    with pytest.raises(errors.InvalidParameter, match=message) as caught:
        rotor.client.resolve_config(url="http://x", credentials_file=path, environ=no_default_dir)
    assert "filesecret" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_missing_credentials_file(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidParameter, match="does not exist"):
        rotor.client.resolve_config(
            url="http://x", credentials_file=tmp_path / "nope.json", environ=no_default_dir
        )


def test_nothing_configured(no_default_dir: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        rotor.client.Client(environ=no_default_dir)
    message = caught.value.message
    assert "ROTOR_URL" in message
    assert "ROTOR_DATA_DIR" in message
    assert caught.value.exit_code == 2


def test_data_dir_without_server(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidParameter, match=r"server\.json"):
        rotor.client.resolve_config(data_dir=tmp_path, environ=no_default_dir)


@pytest.mark.parametrize("url", ["127.0.0.1:8750", "ftp://host", "http://", "http://[::1"])
def test_url_must_be_http(no_default_dir: dict[str, str], url: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="http"):
        rotor.client.resolve_config(url=url, environ=no_default_dir)


def test_secret_hidden_from_repr(no_default_dir: dict[str, str]) -> None:
    config = rotor.client.resolve_config(
        url="http://x", access_key_id="RKID", access_key_secret="topsecret", environ=no_default_dir
    )
    assert "topsecret" not in repr(config)
    client = rotor.client.Client(
        "http://x", access_key_id="RKID", access_key_secret="topsecret", environ=no_default_dir
    )
    with client:
        assert "topsecret" not in repr(client)
        assert "topsecret" not in repr(client.config)


# -- the client config file --------------------------------------------------------------


def write_config(path: Path, mode: int = 0o600, **settings: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))
    path.chmod(mode)
    return path


def test_config_file_in_xdg_config_home(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    write_config(
        tmp_path / "conf" / "rotor" / "client.json",
        url="https://file:3",
        access_key_id="RKFILE",
        access_key_secret="filesecret",
        signing="hmac",
    )
    env = {**no_default_dir, "XDG_CONFIG_HOME": str(tmp_path / "conf")}
    config = rotor.client.resolve_config(environ=env)
    assert config.url == "https://file:3"
    assert config.url_source == str(tmp_path / "conf" / "rotor" / "client.json")
    assert config.credentials is not None
    assert config.credentials.authorization == "Bearer RKFILE.filesecret"
    assert config.signing == "hmac"


def test_environment_beats_config_file_and_file_beats_data_dir(
    tmp_path: Path, no_default_dir: dict[str, str]
) -> None:
    path = write_config(
        tmp_path / "client.json",
        url="https://file:3",
        access_key_id="RKFILE",
        access_key_secret="filesecret",
    )
    data_dir = str(write_data_dir(tmp_path / "d"))
    env = {**no_default_dir, "ROTOR_CONFIG": str(path), "ROTOR_DATA_DIR": data_dir}
    from_file = rotor.client.resolve_config(environ=env)
    assert from_file.url == "https://file:3"
    assert from_file.credentials is not None
    assert from_file.credentials.access_key_id == "RKFILE"

    env |= {"ROTOR_URL": "http://env:1", "ROTOR_ACCESS_KEY_ID": "RKENV"}
    mixed = rotor.client.resolve_config(environ=env)
    assert (mixed.url, mixed.url_source) == ("http://env:1", "ROTOR_URL")
    # A key id from the environment is never paired with the file's secret.
    assert mixed.credentials is None
    assert "no secret" in mixed.missing_credentials


def test_config_file_holding_a_secret_must_be_private(
    tmp_path: Path, no_default_dir: dict[str, str]
) -> None:
    path = write_config(
        tmp_path / "client.json", 0o644, access_key_id="RK", access_key_secret="filesecret"
    )
    env = {**no_default_dir, "ROTOR_CONFIG": str(path)}
    with pytest.raises(errors.InvalidParameter, match="chmod 600") as caught:
        rotor.client.resolve_config(environ=env)
    assert "filesecret" not in str(caught.value)
    # Without a secret in it, a readable file is fine.
    write_config(path, 0o644, url="http://file:4")
    assert rotor.client.resolve_config(environ=env).url == "http://file:4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"url": "http://x", "colour": "blue"}', "unknown setting 'colour'"),
        ('{"url": 5}', "url must be a string"),
        ("[1]", "does not hold a JSON object"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_bad_config_file(
    tmp_path: Path, no_default_dir: dict[str, str], content: str, message: str
) -> None:
    path = tmp_path / "client.json"
    path.write_text(content)
    with pytest.raises(errors.InvalidParameter, match=message):
        rotor.client.resolve_config(environ={**no_default_dir, "ROTOR_CONFIG": str(path)})


def test_named_config_file_must_exist(tmp_path: Path, no_default_dir: dict[str, str]) -> None:
    env = {**no_default_dir, "ROTOR_CONFIG": str(tmp_path / "missing.json")}
    with pytest.raises(errors.InvalidParameter, match="does not exist"):
        rotor.client.resolve_config(environ=env)


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://rotor.example", None),
        (
            {"https_proxy": "proxy.example:3128"},
            "https://rotor.example",
            "http://proxy.example:3128",
        ),
        ({"https_proxy": "http://p:1"}, "http://rotor.example", None),
        ({"http_proxy": "http://p:1"}, "http://rotor.example:8200", "http://p:1"),
        ({"all_proxy": "socks5://p:1"}, "https://rotor.example", "socks5://p:1"),
        ({"https_proxy": "http://p:1", "no_proxy": "rotor.example"}, "https://rotor.example", None),
        (
            {"http_proxy": "http://p:1", "no_proxy": "other.example"},
            "http://rotor.example",
            "http://p:1",
        ),
    ],
)
def test_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _connection.proxy(url) == expected
