from __future__ import annotations

import pytest

from rotor import errors
from rotor.store import events, secrets, stages, versions
from rotor.store.database import Store


@pytest.fixture
def secret(store: Store) -> str:
    secrets.create_secret(store, name="s", value="one", version_id="v1")
    versions.put_value(store, "s", "two", version_id="v2", stages=["Pending"])
    return "s"


def test_moving_current_moves_previous_atomically(store: Store, secret: str) -> None:
    after = stages.update_stage(store, secret, "Current", move_to_version="v2")
    assert after == {"Current": "v2", "Previous": "v1", "Pending": "v2"}
    assert secrets.get_secret(store, secret).stages == after  # the answer is what was written
    assert versions.get_value(store, secret).value == "two"


def test_moving_current_to_itself_changes_nothing(store: Store, secret: str) -> None:
    after = stages.update_stage(store, secret, "Current", move_to_version="v1")
    assert after == {"Current": "v1", "Pending": "v2"}


def test_current_cannot_be_removed(store: Store, secret: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="Current cannot be removed"):
        stages.update_stage(store, secret, "Current", remove_from_version="v1")
    assert secrets.get_secret(store, secret).stages["Current"] == "v1"


def test_remove_from_must_name_the_holder(store: Store, secret: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="not on version 'v1'"):
        stages.update_stage(store, secret, "Pending", remove_from_version="v1")
    after = stages.update_stage(store, secret, "Pending", remove_from_version="v2")
    assert after == {"Current": "v1"}
    assert secrets.get_secret(store, secret).stages == after


def test_custom_stage_moves_between_versions(store: Store, secret: str) -> None:
    stages.update_stage(store, secret, "canary", move_to_version="v2")
    after = stages.update_stage(store, secret, "canary", move_to_version="v1")
    assert after["canary"] == "v1"
    assert secrets.get_secret(store, secret).stages == after
    assert versions.get_value(store, secret, stage="canary").value == "one"


def test_move_and_remove_together(store: Store, secret: str) -> None:
    after = stages.update_stage(
        store, secret, "Current", move_to_version="v2", remove_from_version="v1"
    )
    assert after["Current"] == "v2"
    assert after["Previous"] == "v1"


def test_unknown_version_or_secret(store: Store, secret: str) -> None:
    with pytest.raises(errors.NotFound, match="version 'v9'"):
        stages.update_stage(store, secret, "Current", move_to_version="v9")
    with pytest.raises(errors.NotFound, match="secret 'zz'"):
        stages.update_stage(store, "zz", "Current", move_to_version="v1")


@pytest.mark.parametrize(
    "stage", ["ACSCurrent", "AWSCURRENT", "awspending", "current", "PREVIOUS", "", "a b", "x" * 65]
)
def test_reserved_spellings_and_bad_names_are_refused(
    store: Store, secret: str, stage: str
) -> None:
    with pytest.raises(errors.InvalidParameter):
        stages.update_stage(store, secret, stage, move_to_version="v1")


def test_one_version_per_stage(store: Store, secret: str) -> None:
    stages.update_stage(store, secret, "Pending", move_to_version="v1")
    holders = [v for v in versions.list_versions(store, secret).items if "Pending" in v.stages]
    assert [v.version_id for v in holders] == ["v1"]


def test_nothing_to_do_is_refused(store: Store, secret: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="move_to_version"):
        stages.update_stage(store, secret, "Pending")


def test_make_current_moves_current_and_drops_pending_in_one_change(
    store: Store, secret: str
) -> None:
    seq = events.last_seq(store)
    after = stages.make_current(store, secret, "v2", expected_current="v1")
    assert after == {"Current": "v2", "Previous": "v1"}
    assert secrets.get_secret(store, secret).stages == after  # the answer is what was written
    (changed,) = events.after(store, seq)
    assert (changed.type, changed.data["stages"]) == (events.SECRET_CHANGED, after)
    # Again (a retried end): nothing to do, nothing recorded, no refusal.
    assert stages.make_current(store, secret, "v2", expected_current="v1") == after
    assert events.after(store, seq) == [changed]


def test_make_current_only_from_the_expected_current(store: Store, secret: str) -> None:
    versions.put_value(store, secret, "three", version_id="v3")  # Current moved out of band
    with pytest.raises(errors.InvalidParameter):
        stages.make_current(store, secret, "v2", expected_current="v1")
    with pytest.raises(errors.NotFound):
        stages.make_current(store, secret, "v9", expected_current="v3")
    assert secrets.get_secret(store, secret).stages == {
        "Current": "v3",
        "Previous": "v1",
        "Pending": "v2",
    }
