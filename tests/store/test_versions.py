from __future__ import annotations

import pytest
import sqlalchemy as sa

from rotor import errors
from rotor.store import secrets, stages, versions
from rotor.store import tables as t
from rotor.store.database import Store


@pytest.fixture
def secret(store: Store) -> str:
    secrets.create_secret(store, name="app/db", value="one", version_id="v1")
    return "app/db"


def test_put_moves_current_and_previous_follows(store: Store, secret: str) -> None:
    info, created = versions.put_value(store, secret, "two", version_id="v2")
    assert created
    assert info.stages == (stages.CURRENT,)
    assert secrets.get_secret(store, secret).stages == {"Current": "v2", "Previous": "v1"}
    versions.put_value(store, secret, "three", version_id="v3")
    assert secrets.get_secret(store, secret).stages == {"Current": "v3", "Previous": "v2"}
    assert versions.get_value(store, secret, stage="Previous").value == "two"


def test_a_put_answers_what_a_later_read_sees(store: Store, secret: str) -> None:
    # A write builds its answer from what it wrote instead of reading it back.
    info, _ = versions.put_value(store, secret, "two", version_id="v2", stages=["Current", "x"])
    again, created = versions.put_value(store, secret, "two", version_id="v2")
    listed = versions.list_versions(store, secret).items[0]
    assert not created
    assert info == again == listed
    assert info.stages == ("Current", "x")
    read = versions.get_value(store, secret, version_id="v2")
    assert (read.created_at, read.stages) == (info.created_at, info.stages)
    assert secrets.get_secret(store, secret).updated_at == info.created_at


def test_a_puts_times_are_stored_as_sqlalchemy_stores_them(store: Store, secret: str) -> None:
    # The write sends its times straight to the driver: in the text SQLAlchemy writes on
    # SQLite, so a query binding the same time (through SQLAlchemy) finds them.
    info, _ = versions.put_value(store, secret, "two", version_id="v2")
    with store.read() as conn:
        found = conn.execute(
            sa.select(t.versions.c.version_id).where(t.versions.c.created_at == info.created_at)
        ).scalars()
        assert list(found) == ["v2"]
        touched = conn.execute(
            sa.select(t.secrets.c.name).where(t.secrets.c.updated_at == info.created_at)
        ).scalars()
        assert list(touched) == [secret]
        seq, at = conn.execute(
            sa.select(t.events.c.seq, t.events.c.at).order_by(t.events.c.seq.desc()).limit(1)
        ).one()
        same = conn.execute(sa.select(t.events.c.seq).where(t.events.c.at == at)).scalars()
        assert seq in list(same)


def test_version_id_defaults_to_a_uuid4(store: Store, secret: str) -> None:
    info, _ = versions.put_value(store, secret, "x")
    assert len(info.version_id) == 36
    assert info.version_id[14] == "4"


def test_same_version_same_value_is_a_no_op(store: Store, secret: str) -> None:
    versions.put_value(store, secret, "two", version_id="v2")
    before = secrets.get_secret(store, secret)
    info, created = versions.put_value(store, secret, "two", version_id="v2", stages=["Pending"])
    assert not created
    assert info.version_id == "v2"
    assert secrets.get_secret(store, secret).stages == before.stages


def test_same_version_other_value_conflicts_and_keeps_the_old(store: Store, secret: str) -> None:
    with pytest.raises(errors.VersionConflict, match="'v1'"):
        versions.put_value(store, secret, "different", version_id="v1")
    with pytest.raises(errors.VersionConflict):
        versions.put_value(store, secret, b"one", version_id="v1")  # same bytes, other type
    assert versions.get_value(store, secret, version_id="v1").value == "one"


def test_binary_values_round_trip(store: Store, secret: str) -> None:
    raw = bytes(range(256)) * 4
    versions.put_value(store, secret, raw, version_id="bin")
    got = versions.get_value(store, secret)
    assert got.value == raw
    assert isinstance(got.value, bytes)


def test_values_up_to_64_kib_and_no_more(store: Store, secret: str) -> None:
    versions.put_value(store, secret, "x" * 65536, version_id="max")
    with pytest.raises(errors.ValueTooLarge):
        versions.put_value(store, secret, "x" * 65537)
    with pytest.raises(errors.ValueTooLarge):
        versions.put_value(store, secret, "é" * 32769)  # 65538 bytes in UTF-8
    assert versions.get_value(store, secret).version_id == "max"


def test_pending_only_leaves_current_alone(store: Store, secret: str) -> None:
    info, _ = versions.put_value(store, secret, "next", version_id="p", stages=["Pending"])
    assert info.stages == ("Pending",)
    assert versions.get_value(store, secret).value == "one"
    assert versions.get_value(store, secret, stage="Pending").value == "next"


def test_first_version_is_always_current(store: Store) -> None:
    secrets.create_secret(store, name="fresh")
    info, _ = versions.put_value(store, "fresh", "v", version_id="a", stages=["Pending"])
    assert set(info.stages) == {"Current", "Pending"}


def test_previous_cannot_be_given(store: Store, secret: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="Previous"):
        versions.put_value(store, secret, "x", stages=["Previous"])


@pytest.mark.parametrize("version_id", ["", "a" * 65, "has space", "x/y"])
def test_bad_version_ids_are_refused(store: Store, secret: str, version_id: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="version id"):
        versions.put_value(store, secret, "x", version_id=version_id)


def test_get_by_version_by_stage_and_both(store: Store, secret: str) -> None:
    versions.put_value(store, secret, "two", version_id="v2")
    assert versions.get_value(store, secret, version_id="v1").value == "one"
    assert versions.get_value(store, secret, version_id="v1").stages == ("Previous",)
    assert versions.get_value(store, secret, stage="Current", version_id="v2").value == "two"
    with pytest.raises(errors.NotFound, match="not in stage"):
        versions.get_value(store, secret, stage="Current", version_id="v1")


def test_unknown_secret_stage_and_version_are_not_found(store: Store, secret: str) -> None:
    with pytest.raises(errors.NotFound, match="secret 'nope'"):
        versions.get_value(store, "nope")
    with pytest.raises(errors.NotFound, match="stage 'Pending'"):
        versions.get_value(store, secret, stage="Pending")
    with pytest.raises(errors.NotFound, match="version 'v9'"):
        versions.get_value(store, secret, version_id="v9")
    with pytest.raises(errors.NotFound):
        versions.put_value(store, "nope", "x")


def test_list_versions_newest_first_with_stages_and_pages(store: Store, secret: str) -> None:
    for i in range(2, 8):
        versions.put_value(store, secret, f"value {i}", version_id=f"v{i}")
    seen = []
    token = None
    while True:
        page = versions.list_versions(store, secret, page_size=3, page_token=token)
        seen += page.items
        token = page.next_page_token
        if token is None:
            break
    assert [v.version_id for v in seen] == [f"v{i}" for i in range(7, 0, -1)]
    assert seen[0].stages == ("Current",)
    assert seen[1].stages == ("Previous",)
    assert all(v.stages == () for v in seen[2:])


def test_unstaged_versions_beyond_the_limit_are_pruned(store: Store, secret: str) -> None:
    limited = Store(
        store.engine,
        store.envelope,
        store.settings.__class__(
            data_dir=store.settings.data_dir,
            database_url=store.settings.database_url,
            max_unstaged_versions=2,
        ),
    )
    for i in range(2, 7):
        versions.put_value(limited, secret, f"value {i}", version_id=f"v{i}")
    kept = [v.version_id for v in versions.list_versions(store, secret).items]
    # Current v6 and Previous v5 are staged; of the unstaged v1..v4 the newest two stay.
    assert kept == ["v6", "v5", "v4", "v3"]
