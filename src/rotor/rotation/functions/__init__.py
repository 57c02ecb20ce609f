"""The rotation functions a configuration may name.

- **Installed functions**: the entry-point group ``rotor.rotation_functions``. rotor's
  built-in functions register there through its own package metadata, exactly as a
  third-party package would (``[project.entry-points."rotor.rotation_functions"]``);
  installing a package is an administrator's act, so these are attachable by anyone
  who may configure rotation.
- **Registered functions** (:mod:`rotor.store.functions`): custom code (a Python
  handler, a Lambda-style handler or an HTTP endpoint, maybe with a flow) that an administrator registered
  with what it may be given; attaching one needs ``rotor:AttachFunction`` on it.
  Each kind is run by its adapter (:data:`ADAPTERS`).
"""

from __future__ import annotations

import difflib
import functools
import logging
from importlib.metadata import entry_points

from rotor import errors
from rotor.rotation.functions.base import RotationFunction
from rotor.store import functions as registered
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction

ENTRY_POINT_GROUP = "rotor.rotation_functions"
log = logging.getLogger(__name__)


@functools.cache
def available() -> dict[str, str]:
    """Installed function names and the object each one names."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def load(name: str) -> RotationFunction:
    """An instance of the installed function ``name``."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        raise errors.InvalidParameter(f"unknown rotation function {name!r}")
    factory = matches[0].load()
    function: RotationFunction = factory()
    return function


@functools.cache
def adapter(kind: str) -> RotationFunction:
    """The adapter that runs registered functions of ``kind``."""
    if kind == registered.PYTHON_HANDLER:
        from rotor.rotation.functions.python_handler import PythonHandler

        return PythonHandler()
    if kind == registered.LAMBDA_HANDLER:
        from rotor.rotation.functions.lambda_handler import LambdaHandler

        return LambdaHandler()
    if kind == registered.HTTP_FUNCTION:
        from rotor.rotation.functions.http_handler import HttpFunction

        return HttpFunction()
    raise errors.InvalidParameter(f"unknown kind of function {kind!r}")


def _unknown(store: Store, name: str) -> errors.InvalidParameter:
    names = sorted(available()) + [f.name for f in registered.list_functions(store)]
    hint = difflib.get_close_matches(name, names, n=1)
    message = f"unknown rotation function {name!r}"
    if name in registered.KINDS:
        message += (
            f"; {name} code is registered first (rotor function register --kind {name} ...) "
            "and the configuration names the registered function"
        )
    elif hint:
        message += f" (did you mean {hint[0]!r}?)"
    return errors.InvalidParameter(f"{message}; available: {', '.join(names)}")


def resolve(store: Store, name: str) -> tuple[RotationFunction, RegisteredFunction | None]:
    """The function a configuration names, and its registration when it is a registered one."""
    if name in available():
        return load(name), None
    found = registered.get_function(store, name)
    if found is None:
        raise _unknown(store, name)
    return adapter(found.kind), found


def is_function(store: Store, name: str) -> bool:
    """Whether ``name`` is an installed or registered function (a flow task's resourceArn)."""
    return name in available() or registered.get_function(store, name) is not None
