"""Random passwords from the OS CSPRNG (``secrets``), never ``random``."""

from __future__ import annotations

import secrets
import string

from rotor import errors

MIN_LENGTH = 8
MAX_LENGTH = 128
DEFAULT_LENGTH = 32
PUNCTUATION = string.punctuation


def generate_password(
    *,
    length: int = DEFAULT_LENGTH,
    exclude_characters: str = "",
    exclude_uppercase: bool = False,
    exclude_lowercase: bool = False,
    exclude_numbers: bool = False,
    exclude_punctuation: bool = False,
    include_space: bool = False,
    require_each_included_type: bool = True,
) -> str:
    """A password of ``length`` characters from the included classes.

    With ``require_each_included_type``, at least one character of every included
    class (that still has characters after the exclusions) is present.
    """
    if isinstance(length, bool) or not isinstance(length, int):
        raise errors.InvalidParameter("length must be an integer")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise errors.InvalidParameter(f"length must be between {MIN_LENGTH} and {MAX_LENGTH}")
    excluded = set(exclude_characters)
    classes = []
    for members, skip in (
        (string.ascii_uppercase, exclude_uppercase),
        (string.ascii_lowercase, exclude_lowercase),
        (string.digits, exclude_numbers),
        (PUNCTUATION, exclude_punctuation),
        (" ", not include_space),
    ):
        if skip:
            continue
        kept = "".join(c for c in members if c not in excluded)
        if kept:
            classes.append(kept)
    if not classes:
        raise errors.InvalidParameter("every character class is excluded; nothing to build from")
    if require_each_included_type and len(classes) > length:
        raise errors.InvalidParameter(
            f"length {length} is too short to include each of {len(classes)} character types"
        )
    pool = "".join(classes)
    chars: list[str] = [secrets.choice(c) for c in classes] if require_each_included_type else []
    chars += [secrets.choice(pool) for _ in range(length - len(chars))]
    # Shuffle so the required characters are not always first.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)
