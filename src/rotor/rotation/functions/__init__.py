"""The one registry of rotation functions: the entry-point group ``rotor.rotation_functions``.

Built-in functions register there through rotor's own package metadata, exactly
as a third-party package would (``[project.entry-points."rotor.rotation_functions"]``).
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points

from rotor import errors
from rotor.rotation.functions.base import RotationFunction

ENTRY_POINT_GROUP = "rotor.rotation_functions"
log = logging.getLogger(__name__)


@functools.cache
def available() -> dict[str, str]:
    """Registered function names and the object each one names."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def load(name: str) -> RotationFunction:
    """An instance of the function registered as ``name``."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        raise errors.InvalidParameter(
            f"unknown rotation function {name!r}; available: {', '.join(sorted(available()))}"
        )
    factory = matches[0].load()
    function: RotationFunction = factory()
    return function


def check(name: str) -> str:
    if name not in available():
        raise errors.InvalidParameter(
            f"unknown rotation function {name!r}; available: {', '.join(sorted(available()))}"
        )
    return name
