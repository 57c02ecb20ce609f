"""``with obj:`` closing ``obj`` at the end, for the client's closeable objects."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosesOnExit:
    """A context manager whose exit calls :meth:`close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
