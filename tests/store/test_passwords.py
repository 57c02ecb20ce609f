from __future__ import annotations

import string

import pytest

from rotor import errors
from rotor.store.passwords import generate_password


def test_default_is_32_chars_with_every_class() -> None:
    for _ in range(50):
        pw = generate_password()
        assert len(pw) == 32
        assert any(c in string.ascii_uppercase for c in pw)
        assert any(c in string.ascii_lowercase for c in pw)
        assert any(c in string.digits for c in pw)
        assert any(c in string.punctuation for c in pw)
        assert " " not in pw


def test_passwords_differ() -> None:
    assert len({generate_password() for _ in range(200)}) == 200


@pytest.mark.parametrize("length", [8, 9, 64, 128])
def test_lengths_in_range(length: int) -> None:
    assert len(generate_password(length=length)) == length


@pytest.mark.parametrize("length", [7, 129, 0, -5])
def test_lengths_out_of_range(length: int) -> None:
    with pytest.raises(errors.InvalidParameter, match="length"):
        generate_password(length=length)


def test_exclusions_hold() -> None:
    excluded = "/@\"'\\"
    for _ in range(100):
        pw = generate_password(length=64, exclude_characters=excluded, exclude_uppercase=True)
        assert not set(pw) & set(excluded)
        assert not any(c.isupper() for c in pw)


def test_digits_only() -> None:
    pw = generate_password(
        length=20, exclude_uppercase=True, exclude_lowercase=True, exclude_punctuation=True
    )
    assert pw.isdigit()


def test_include_space_requires_a_space() -> None:
    assert all(" " in generate_password(length=10, include_space=True) for _ in range(50))


def test_without_require_each_type_short_passwords_work() -> None:
    pw = generate_password(length=8, include_space=True, require_each_included_type=False)
    assert len(pw) == 8


def test_impossible_combinations_are_refused() -> None:
    with pytest.raises(errors.InvalidParameter, match="excluded"):
        generate_password(
            exclude_uppercase=True,
            exclude_lowercase=True,
            exclude_numbers=True,
            exclude_punctuation=True,
        )
    with pytest.raises(errors.InvalidParameter, match="excluded"):
        generate_password(exclude_characters=string.printable, include_space=False)
    with pytest.raises(errors.InvalidParameter):
        generate_password(length=True)  # type: ignore[arg-type]
