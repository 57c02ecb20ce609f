"""How an operation, defined once, becomes a method of both clients.

An operation is a function of :mod:`rotor.client._operations_secrets`,
:mod:`rotor.client._operations_rotation` or :mod:`rotor.client._operations_access`
that returns what to run: a :class:`_calls.Call`, :data:`_calls.Pages` or a
:class:`_calls.Poll`. The client class names it once::

    describe_secret = operation(_operations_secrets.describe_secret)

On a :class:`rotor.client.Client` (a :class:`SyncShell`) that method sends the
call and returns a ``SecretInfo``; on a :class:`rotor.client.AsyncClient` (an
:class:`AsyncShell`) it returns a coroutine of one. :class:`paginated` does the
same for the ``iter_*`` methods (an ``Iterator`` on one, an ``AsyncIterator`` on
the other) and :class:`polled` for the waits. The method has the operation's
name, docstring and parameters; the type checker sees both kinds of client
through the overloads of ``__get__``, so ``await async_client.get_value(...)`` is
a ``SecretValue`` to it as well.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from rotor.client._calls import Call, Pages, Poll

P = ParamSpec("P")
T = TypeVar("T")


class SyncShell(Protocol):
    """A client whose methods return their results (:class:`rotor.client.Client`)."""

    def _send(self, call: Call[T]) -> T: ...

    def _iterate(self, pages: Pages[T]) -> Iterator[T]: ...

    def _poll(self, poll: Poll[T]) -> T: ...


class AsyncShell(Protocol):
    """A client whose methods return coroutines (:class:`rotor.client.AsyncClient`)."""

    def _send(self, call: Call[T]) -> Coroutine[Any, Any, T]: ...

    def _iterate(self, pages: Pages[T]) -> AsyncIterator[T]: ...

    def _poll(self, poll: Poll[T]) -> Coroutine[Any, Any, T]: ...


class _Method:
    """A client method that runs, on its client, what an operation returns."""

    def __init__(self, build: Callable[..., Any], run: Callable[[Any, Any], Any]) -> None:
        def method(shell: Any, /, *args: Any, **kwargs: Any) -> Any:
            return run(shell, build(*args, **kwargs))

        functools.update_wrapper(method, build)
        del method.__wrapped__  # type: ignore[attr-defined]
        # The operation's parameters after the client's own, without its return annotation
        # (what it builds, not what the method returns).
        built = inspect.signature(build)
        shell = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        method.__signature__ = built.replace(  # type: ignore[attr-defined]
            parameters=[shell, *built.parameters.values()],
            return_annotation=inspect.Signature.empty,
        )
        self._method = method

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if name != self._method.__name__:
            raise TypeError(f"{owner.__qualname__}.{name} runs {self._method.__name__}")
        self._method.__qualname__ = f"{owner.__qualname__}.{name}"

    def _get(self, shell: object, owner: type[Any]) -> Any:
        # On an instance a bound method; on the class the function itself, as for a def.
        return self._method.__get__(shell, owner)


class _ReturnsResult(_Method, Generic[P, T]):
    """A method that returns a result on a :class:`SyncShell`, a coroutine of it on an async one."""

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
        return self._get(shell, owner)


class operation(_ReturnsResult[P, T]):
    """A client method that sends the call its operation builds."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        super().__init__(build, lambda shell, call: shell._send(call))


class polled(_ReturnsResult[P, T]):
    """A client method that sends its operation's call until the result is final."""

    def __init__(self, build: Callable[P, Poll[T]]) -> None:
        super().__init__(build, lambda shell, poll: shell._poll(poll))


class paginated(_Method, Generic[P, T]):
    """A client method that yields every item of the pages its operation fetches."""

    def __init__(self, build: Callable[P, Pages[T]]) -> None:
        super().__init__(build, lambda shell, pages: shell._iterate(pages))

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
        return self._get(shell, owner)
