"""What an orchestration's replay knows about entities: its message sorter (labels of the requests it sends,
rebuilt on every replay from orchestration time) and its critical section, if any. Part of ``ReplayState``."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskhub.format.entity_state import SorterState

__all__ = ["CriticalSection", "EntityCalls"]


@dataclass
class CriticalSection:
    """A lock requested by ``lock_entities`` (entities.md 3), until it is released."""

    lock_id: str
    entities: list[str]
    """Instance ids of the locked entities, sorted."""
    granted: bool = False
    in_use: set[str] = field(default_factory=set)
    """Locked entities with a call in flight (a second call to one of them is refused)."""


@dataclass
class EntityCalls:
    sorter: SorterState = field(default_factory=SorterState)
    section: CriticalSection | None = None
