"""How one definition of an operation becomes a method of both clients.

A shared method is written once, in a mixin (:mod:`rotor.client._secret_methods`,
:mod:`rotor.client._access_methods`), as a function that builds the
:class:`_base.Call` to send, decorated with :class:`operation`::

    @operation
    def describe_secret(self, name: str) -> _base.Call[SecretInfo]:
        return _base.describe_secret(name)

On a :class:`rotor.client.Client` (a :class:`SyncShell`) the method sends the
call and returns a ``SecretInfo``; on a :class:`rotor.client.AsyncClient` (an
:class:`AsyncShell`) it returns a coroutine of one. :class:`paginated` does the
same for the ``iter_*`` methods: an ``Iterator`` on one, an ``AsyncIterator``
on the other. The type checker sees both through the overloads of ``__get__``,
so ``await async_client.get_value(...)`` is a ``SecretValue`` to it as well.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import (
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    overload,
)

from rotor.client import _base, _models

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")

Pages: TypeAlias = Callable[[str | None], _base.Call[_models.Page[T]]]
"""The call that fetches the page at a token (None: the first page)."""


class SyncShell(Protocol):
    """A client whose methods return their results (:class:`rotor.client.Client`)."""

    def _send(self, call: _base.Call[T]) -> T: ...

    def _iterate(self, pages: Pages[T]) -> Iterator[T]: ...


class AsyncShell(Protocol):
    """A client whose methods return coroutines (:class:`rotor.client.AsyncClient`)."""

    def _send(self, call: _base.Call[T]) -> Coroutine[Any, Any, T]: ...

    def _iterate(self, pages: Pages[T]) -> AsyncIterator[T]: ...


def _bind(build: Callable[..., Any], run: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    """A function named and documented like ``build`` that hands what it builds to ``run``."""

    def method(shell: Any, /, *args: Any, **kwargs: Any) -> Any:
        return run(shell, build(shell, *args, **kwargs))

    functools.update_wrapper(method, build)
    del method.__wrapped__  # type: ignore[attr-defined]
    # Its parameters, without the return annotation of the builder (a Call).
    method.__signature__ = inspect.signature(build).replace(  # type: ignore[attr-defined]
        return_annotation=inspect.Signature.empty
    )
    return method


class operation(Generic[P, T]):
    """A client method that sends the call its function builds."""

    def __init__(self, build: Callable[Concatenate[Any, P], _base.Call[T]]) -> None:
        self._method = _bind(build, lambda shell, call: shell._send(call))

    @overload
    def __get__(self, shell: None, owner: type[SyncShell]) -> Callable[Concatenate[Any, P], T]: ...
    @overload
    def __get__(
        self, shell: None, owner: type[AsyncShell]
    ) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, shell: None, owner: type[Any]) -> Callable[Concatenate[Any, P], Any]: ...
    @overload
    def __get__(self, shell: SyncShell, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, shell: AsyncShell, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, shell: object, owner: type[Any]) -> Any:
        # On an instance a bound method; on the class the function itself, as for a def.
        return self._method.__get__(shell, owner)


class paginated(Generic[P, T]):
    """A client method that yields every item of the pages its function builds calls for."""

    def __init__(self, build: Callable[Concatenate[Any, P], Pages[T]]) -> None:
        self._method = _bind(build, lambda shell, pages: shell._iterate(pages))

    @overload
    def __get__(
        self, shell: None, owner: type[SyncShell]
    ) -> Callable[Concatenate[Any, P], Iterator[T]]: ...
    @overload
    def __get__(
        self, shell: None, owner: type[AsyncShell]
    ) -> Callable[Concatenate[Any, P], AsyncIterator[T]]: ...
    @overload
    def __get__(self, shell: None, owner: type[Any]) -> Callable[Concatenate[Any, P], Any]: ...
    @overload
    def __get__(self, shell: SyncShell, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, shell: AsyncShell, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, shell: object, owner: type[Any]) -> Any:
        return self._method.__get__(shell, owner)


def then(call: _base.Call[T], after: Callable[[T], U]) -> _base.Call[U]:
    """``call``, with ``after`` applied to what it parses."""
    # replace() keeps every other field; its typing cannot change the Call's type argument.
    return dataclasses.replace(cast("_base.Call[Any]", call), parse=lambda d: after(call.parse(d)))
