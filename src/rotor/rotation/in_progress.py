"""What a rotation in progress makes of a secret before its function wrote anything.

AWS Secrets Manager lists a rotation's version (its ``ClientRequestToken``) with the
stage ``AWSPENDING`` from the moment the rotation starts, before the function's
createSecret step has written a value for it, and the public rotation handlers check
it there. rotor writes no placeholder version: the running rotation's record says which
version it is making, and :func:`pending_version` reads it from there, so the version
is shown only while that rotation runs and only until a value exists for it. Once the
rotation ends, is cancelled or abandoned, it is gone.
"""

from __future__ import annotations

from rotor.store import versions
from rotor.store.database import Store
from rotor.store.rotations import Rotation


def pending_version(store: Store, name: str, running: Rotation | None) -> str | None:
    """The version id ``running`` (the running rotation of ``name``, read by the caller,
    who also needs it) is making, while no version of that id exists yet; None when no
    rotation runs or its version was written."""
    if running is None or versions.exists(store, name, running.version_id):
        return None
    return running.version_id
