"""Pages of results and their opaque continuation tokens."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any, Generic, TypeVar

from rotor import errors

MAX_PAGE_SIZE = 100
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: Pass back to get the next page; None on the last page.
    next_page_token: str | None


def encode_token(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as exc:
        raise errors.InvalidParameter("page_token is not valid") from exc


def validate_page_size(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise errors.InvalidParameter(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page_size


def offset_token(offset: int) -> str:
    return encode_token(offset)


def decode_offset(page_token: str | None) -> int:
    """The offset an offset-paged listing continues from (0 without a token)."""
    if not page_token:
        return 0
    offset = decode_token(page_token)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameter("page_token is not valid")
    return offset
