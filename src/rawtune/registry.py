"""Named registries: configs refer to objectives, tasks, tuning methods... by name, never by
import path. Unknown names fail with a did-you-mean.

A registry knows where its members live: it is given the tuple of their module names and imports
them once, on first lookup (spaCy's `registrations.py` idea). Each member registers itself with the
`register` decorator in its own module and imports only the registry; the registry never imports a
member by an `import` statement, so registration closes no import circle, and a member module is
loaded only when some caller looks a name up."""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rawtune.errors import RawtuneError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


class Registry(Generic[T]):
    """`kind` names a member in errors ("unknown task 'nre'"); `members` are the modules (dotted
    names) whose import registers every member, imported on the first `get`, `names`, `in` or
    iteration."""

    def __init__(self, kind: str, members: tuple[str, ...] = ()):
        self.kind = kind
        self.members = tuple(members)
        self._items: dict[str, T] = {}
        self._filled = not self.members
        self._lock = threading.RLock()  # two threads' first lookups import the members once

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def fill(self) -> None:
        """Import the member modules, once (a failed import is tried again on the next lookup)."""
        if self._filled:
            return
        with self._lock:
            if self._filled:
                return
            for module in self.members:
                importlib.import_module(module)
            self._filled = True

    def get(self, name: str) -> T:
        self.fill()
        try:
            return self._items[name]
        except KeyError:
            hint = did_you_mean(name, self.names())
            msg = f"unknown {self.kind} '{name}'; known: {', '.join(self.names())}"
            raise RawtuneError(msg + (f" (did you mean '{hint}'?)" if hint else "")) from None

    def names(self) -> list[str]:
        self.fill()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.fill()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
