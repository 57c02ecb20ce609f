"""Taking a rotation's lease (rotation_steps.take): the rotation as it was, read in the
transaction that takes the lease, and whether it was taken."""

from __future__ import annotations

from rotor.store import rotation_steps, rotations
from rotor.store.database import Store
from tests.store.conftest import running_rotation


def test_take_answers_the_rotation_before_the_claim_and_whether_it_is_ours(
    store: Store,
) -> None:
    rotation = running_rotation(store)
    first = rotation_steps.take(store, rotation.id, "runner-a", 60)
    assert first.taken
    assert first.before.lease_owner is None
    assert rotations.get_rotation(store, rotation.id).lease_owner == "runner-a"
    # A live lease keeps another runner out; it sees who holds it, nothing changes.
    second = rotation_steps.take(store, rotation.id, "runner-b", 60)
    assert not second.taken
    assert second.before.lease_owner == "runner-a"
    assert rotations.get_rotation(store, rotation.id).lease_owner == "runner-a"
    # An expired one is taken over, and the answer names the runner it was taken from.
    assert rotation_steps.claim(store, rotation.id, "runner-a", -1)
    third = rotation_steps.take(store, rotation.id, "runner-b", 60)
    assert third.taken
    assert third.before.lease_owner == "runner-a"
    assert rotations.get_rotation(store, rotation.id).lease_owner == "runner-b"
