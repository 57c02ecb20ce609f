from __future__ import annotations

import concurrent.futures
import threading

import pytest

from rotor import errors
from rotor.store import secrets, stages, versions
from rotor.store.database import Store


def test_create_with_value_makes_it_current(store: Store) -> None:
    created = secrets.create_secret(
        store, name="app/db", value="s3cret", version_id="v1", description="db", tags={"team": "a"}
    )
    assert created.stages == {stages.CURRENT: "v1"}
    assert created.description == "db"
    assert created.tags == {"team": "a"}
    assert created.secret_type == "Generic"
    assert versions.get_value(store, "app/db").value == "s3cret"


def test_create_without_value_has_no_stages(store: Store) -> None:
    created = secrets.create_secret(store, name="empty")
    assert created.stages == {}
    with pytest.raises(errors.NotFound, match="stage 'Current'"):
        versions.get_value(store, "empty")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 193,
        "has space",
        "semi;colon",
        "colon:x",
        "ünï",
        "tab\t",
        None,
        5,
        "a/../b",
        ".",
        "x/.",
    ],
)
def test_invalid_names_are_refused(store: Store, name: object) -> None:
    with pytest.raises(errors.InvalidParameter, match="secret name"):
        secrets.create_secret(store, name=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "a" * 192, "A-z0_9/+=.@-", "path/to/secret"])
def test_valid_names_are_accepted(store: Store, name: str) -> None:
    assert secrets.create_secret(store, name=name).name == name


def test_duplicate_name_is_refused(store: Store) -> None:
    secrets.create_secret(store, name="dup", value="one")
    with pytest.raises(errors.SecretExists, match="'dup'"):
        secrets.create_secret(store, name="dup", value="two")
    assert versions.get_value(store, "dup").value == "one"


def test_bad_metadata_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(errors.InvalidParameter):
        secrets.create_secret(store, name="x", description="d" * 1025)
    with pytest.raises(errors.InvalidParameter):
        secrets.create_secret(store, name="x", tags={"k": "v" * 257})
    with pytest.raises(errors.InvalidParameter):
        secrets.create_secret(store, name="x", secret_type="")
    with pytest.raises(errors.ValueTooLarge):
        secrets.create_secret(store, name="x", value="v" * (64 * 1024 + 1))
    with pytest.raises(errors.NotFound):
        secrets.get_secret(store, "x")


def test_describe_unknown_names_the_secret(store: Store) -> None:
    with pytest.raises(errors.NotFound, match="'nope'"):
        secrets.get_secret(store, "nope")


def test_list_filters_by_prefix_literally(store: Store) -> None:
    for name in ["app_1", "appx1", "app%", "apq", "b"]:
        if "%" not in name:
            secrets.create_secret(store, name=name)
    names = [s.name for s in secrets.list_secrets(store, prefix="app_").items]
    assert names == ["app_1"]
    assert [s.name for s in secrets.list_secrets(store, prefix="app").items] == ["app_1", "appx1"]


def test_list_filters_by_all_tags(store: Store) -> None:
    secrets.create_secret(store, name="a", tags={"team": "x", "env": "prod"})
    secrets.create_secret(store, name="b", tags={"team": "x", "env": "dev"})
    secrets.create_secret(store, name="c", tags={"team": "y"})
    assert [s.name for s in secrets.list_secrets(store, tags={"team": "x"}).items] == ["a", "b"]
    found = secrets.list_secrets(store, tags={"team": "x", "env": "prod"}).items
    assert [s.name for s in found] == ["a"]


def test_list_pages_through_everything_once(store: Store) -> None:
    names = [f"s{i:02d}" for i in range(23)]
    for name in reversed(names):
        secrets.create_secret(store, name=name, value=name)
    seen: list[str] = []
    token = None
    while True:
        page = secrets.list_secrets(store, page_size=5, page_token=token)
        seen += [s.name for s in page.items]
        assert all(s.stages.get("Current") for s in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert seen == names


@pytest.mark.parametrize("size", [0, 101])
def test_list_refuses_bad_page_sizes(store: Store, size: int) -> None:
    with pytest.raises(errors.InvalidParameter, match="page_size"):
        secrets.list_secrets(store, page_size=size)


def test_list_refuses_garbage_tokens(store: Store) -> None:
    with pytest.raises(errors.InvalidParameter, match="page_token"):
        secrets.list_secrets(store, page_token="%%%not-a-token")


def test_update_description_and_replace_tags(store: Store) -> None:
    secrets.create_secret(store, name="u", description="old", tags={"a": "1", "b": "2"})
    updated = secrets.update_secret(store, "u", description="new", tags={"c": "3"})
    assert updated.description == "new"
    assert updated.tags == {"c": "3"}
    assert secrets.update_secret(store, "u", description="newer").tags == {"c": "3"}


def test_tags_added_and_removed_at_once_are_all_kept(store: Store) -> None:
    secrets.create_secret(store, name="t", tags={f"old{i}": "x" for i in range(8)})
    start = threading.Barrier(16)

    def change(i: int) -> None:
        start.wait()
        if i % 2:
            secrets.update_secret(store, "t", add_tags={f"new{i}": str(i)})
        else:
            secrets.update_secret(store, "t", remove_tags=[f"old{i // 2}"])

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(change, range(16)))
    assert secrets.get_secret(store, "t").tags == {f"new{i}": str(i) for i in range(1, 16, 2)}
    with pytest.raises(errors.InvalidParameter):
        secrets.update_secret(store, "t", tags={}, add_tags={"a": "b"})
