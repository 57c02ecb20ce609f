"""What a rotation's step checks before it runs (rotation_steps.standing): the secret's
stages and whether the rotation's version was written, staged or not."""

from __future__ import annotations

import pytest

from rotor import errors
from rotor.store import rotation_steps, stages, versions
from rotor.store.database import Store
from tests.store.conftest import running_rotation


def test_the_stages_and_whether_the_version_exists(store: Store) -> None:
    rotation = running_rotation(store)
    before = rotation_steps.standing(store, rotation.id)
    assert before == rotation_steps.Standing(stages={stages.CURRENT: "v1"}, version_exists=False)
    versions.put_value(store, "app/db", "two", version_id="v2", stages=[stages.PENDING])
    pending = rotation_steps.standing(store, rotation.id)
    assert pending.stages == {stages.CURRENT: "v1", stages.PENDING: "v2"}
    assert pending.version_exists
    stages.update_stage(store, "app/db", stages.PENDING, remove_from_version="v2")
    unstaged = rotation_steps.standing(store, rotation.id)
    assert unstaged == rotation_steps.Standing(stages={stages.CURRENT: "v1"}, version_exists=True)
    with pytest.raises(errors.NotFound):
        rotation_steps.standing(store, "no-such-rotation")
