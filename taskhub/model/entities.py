"""Durable entities in the programming model (api.md 1.1): ``EntityId``, ``EntityContext``, ``EntityLock``
and how a registered entity (a function or a class) runs one operation.

::

    @app.entity                                  # registered as "counter" (names are lower-cased)
    def counter(ctx: taskhub.EntityContext, input):
        if ctx.operation_name == "add":
            ctx.set_state(ctx.get_state(0) + input)
        elif ctx.operation_name == "get":
            return ctx.get_state(0)

    @app.entity                                  # a class: one method per operation
    class Account:
        def __init__(self) -> None:              # the state of a new entity
            self.balance = 0
        def deposit(self, amount: int) -> int:
            self.balance += amount
            return self.balance

A class-based entity's state is its instance's attributes (a JSON object); each operation gets a fresh
instance with that state, its method is called with the input (or with nothing when it takes no
argument), and the attributes are saved when it returns. An operation named ``delete`` that the class
does not define deletes the state, as in .NET. The context is the instance's ``entity_context``.

The context is implemented by the worker (``worker.entities.batch``); user code only sees this interface.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskhub.format.entities import check_entity_key, check_entity_name, parse_entity_instance_id

__all__ = ["EntityId", "EntityContext", "EntityLock", "run_operation", "entity_operations"]


@dataclass(frozen=True, order=True)
class EntityId:
    """An entity's identity: ``name`` (lower-cased, no ``@``) and ``key``; ``str()`` is the instance id."""

    name: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_entity_name(self.name))
        object.__setattr__(self, "key", check_entity_key(self.key))

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"

    @classmethod
    def parse(cls, instance_id: str) -> EntityId:
        """The id of an entity instance id such as ``@counter@k1`` read from the hub: the format's rules
        apply, not the length limits of new ids (an entity Durable Functions made may be longer)."""
        name, key = parse_entity_instance_id(instance_id)
        entity = object.__new__(cls)
        object.__setattr__(entity, "name", check_entity_name(name, limit=False))
        object.__setattr__(entity, "key", check_entity_key(key, limit=False))
        return entity

    @classmethod
    def of(cls, value: Any) -> EntityId:
        """An ``EntityId`` from an ``EntityId``, an ``@name@key`` string or a ``(name, key)`` pair."""
        if isinstance(value, EntityId):
            return value
        if isinstance(value, str):
            return cls(*parse_entity_instance_id(value))
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise TypeError(
            f"expected a taskhub.EntityId, an '@name@key' string or a (name, key) pair, got {type(value).__name__}"
        )


class EntityContext(ABC):
    """What an entity operation receives as ``ctx``."""

    @property
    @abstractmethod
    def entity_id(self) -> EntityId:
        """This entity's id."""

    @property
    @abstractmethod
    def operation_name(self) -> str:
        """The name of the operation being run."""

    @property
    @abstractmethod
    def has_state(self) -> bool:
        """True when the entity has a state (it exists)."""

    @abstractmethod
    def get_state(self, default: Any = None) -> Any:
        """The state; when there is none, ``default`` (called first if it is callable). Nothing is stored."""

    @abstractmethod
    def set_state(self, value: Any) -> None:
        """Replace the state with a JSON value."""

    @abstractmethod
    def delete_state(self) -> None:
        """Delete the state: the entity no longer exists once the operation completes."""

    @abstractmethod
    def signal_entity(
        self,
        entity_id: EntityId | str,
        operation: str,
        *,
        input: Any = None,
        signal_time: datetime | timedelta | None = None,
    ) -> None:
        """Send a one-way operation to an entity (sent when this operation succeeds)."""

    @abstractmethod
    def schedule_new_orchestration(
        self, name_or_fn: str | Callable[..., Any], *, input: Any = None, instance_id: str | None = None
    ) -> str:
        """Start an orchestration (fire and forget) when this operation succeeds; returns its instance id."""


class EntityLock:
    """A held critical section: ``with lock:`` releases it when the block ends (api.md 1, entities.md 3)."""

    def __init__(self, release: Callable[[], None], entities: list[EntityId]) -> None:
        self._release = release
        self.entities = entities

    def release(self) -> None:
        """Release every entity of the lock (once)."""
        self._release()

    def __enter__(self) -> EntityLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"EntityLock({', '.join(str(e) for e in self.entities)})"


def entity_operations(cls: type) -> list[str]:
    """The operations of a class-based entity: its public methods."""
    return sorted(n for n, v in vars(cls).items() if not n.startswith("_") and callable(v))


def run_operation(fn: Callable[..., Any], ctx: EntityContext, input: Any) -> Any:
    """Start one operation of a registered entity; returns its result, or an awaitable of it."""
    if not inspect.isclass(fn):
        return fn(ctx, input)
    op = ctx.operation_name
    method = getattr(fn, op, None) if not op.startswith("_") else None
    if method is None or not callable(method):
        if op.lower() == "delete":
            ctx.delete_state()
            return None
        ops = ", ".join(entity_operations(fn)) or "none"
        raise ValueError(f"entity {ctx.entity_id.name!r} has no operation {op!r}; its operations: {ops}")
    obj: Any = fn.__new__(fn)
    saved = ctx.get_state()
    if isinstance(saved, dict):
        obj.__dict__.update(saved)
    else:
        fn.__init__(obj)
    obj.entity_context = ctx
    bound = getattr(obj, op)
    takes_input = len(inspect.signature(bound).parameters) > 0
    result = bound(input) if takes_input else bound()

    def save(value: Any) -> Any:
        if not getattr(ctx, "state_deleted", False):  # the method itself may call ctx.delete_state()
            ctx.set_state({k: v for k, v in vars(obj).items() if k != "entity_context"})
        return value

    if inspect.isawaitable(result):

        async def finish() -> Any:
            return save(await result)

        return finish()
    return save(result)
