"""The error tree: stable, unique codes, and a drawing that matches the classes."""

from __future__ import annotations

import rotor.errors as errors


def _all() -> list[type[errors.RotorError]]:
    found, pending = [], [errors.RotorError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_code_names_one_class_but_the_internal_error_alias() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in _all():
        by_code.setdefault(cls.code, []).append(cls.__name__)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert set(shared) == {"InternalError"}
    assert set(shared["InternalError"]) == {"RotorError", "ServerError", "InternalError"}
    assert errors.by_code()["InternalError"] is errors.InternalError


def test_every_class_is_in_the_drawn_tree() -> None:
    doc = errors.__doc__ or ""
    assert [c.__name__ for c in _all() if c.__name__ not in doc] == []


def test_a_response_maps_back_to_its_class() -> None:
    for cls in _all():
        if cls.http_status:
            rebuilt = errors.from_response(cls.http_status, cls.code, "m")
            assert rebuilt.code == cls.code
            assert rebuilt.message == "m"
