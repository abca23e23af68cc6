"""Orchestration versions: how two are compared and what a worker does with an instance's version.

Durable Functions' rules (DTFx ``VersioningSettings`` and the orchestration dispatcher; see
docs/research/versioning.md 3-4):

- :func:`compare_versions`: an empty version is older than any other; two versions that both read as
  ``System.Version`` (2 to 4 dot-separated numbers: ``1.0``, ``1.2.3.4``) compare by their numbers, a
  missing part counting lower (``1.0 < 1.0.0``); anything else compares as text, ignoring case
  (``"10" < "9"`` when one of them is not a dotted number).
- :func:`admit`: which instances a worker runs, by its ``versionMatchStrategy``: ``None`` runs all;
  ``Strict`` runs only its own version (exact text; an empty version equals an unset one);
  ``CurrentOrOlder`` runs its own version and older ones. What happens to the rest is the
  ``versionFailureStrategy``: ``Reject`` leaves the work for another worker, ``Fail`` fails the instance.

Pure: no storage, no asyncio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

__all__ = [
    "VERSION_MISMATCH",
    "Admission",
    "VersionFailureStrategy",
    "VersionMatchStrategy",
    "Versioning",
    "admit",
    "compare_versions",
    "MAX_VERSION_LENGTH",
    "validate_version",
]

VERSION_MISMATCH = "VersionMismatch"
"""The ErrorType of an instance failed by ``versionFailureStrategy: Fail`` (as DTFx writes it)."""

_DOTTED = re.compile(r"\s*(\d{1,10})\.(\d{1,10})(?:\.(\d{1,10}))?(?:\.(\d{1,10}))?\s*")
_INT32_MAX = 2**31 - 1


class VersionMatchStrategy(str, Enum):
    """host.json ``versionMatchStrategy``: which instances a worker runs."""

    NONE = "None"
    STRICT = "Strict"
    CURRENT_OR_OLDER = "CurrentOrOlder"


class VersionFailureStrategy(str, Enum):
    """host.json ``versionFailureStrategy``: what a worker does with an instance it may not run."""

    REJECT = "Reject"
    FAIL = "Fail"


@dataclass(frozen=True)
class Versioning:
    """A worker's version settings (host.json ``defaultVersion`` and the two strategies)."""

    version: str | None = None
    match: VersionMatchStrategy = VersionMatchStrategy.CURRENT_OR_OLDER
    failure: VersionFailureStrategy = VersionFailureStrategy.REJECT


@dataclass(frozen=True)
class Admission:
    """The verdict on one work item: ``run`` it, ``reject`` it (leave it), or ``fail`` the instance;
    ``reason`` names both versions when it is not ``run``."""

    verdict: Literal["run", "reject", "fail"]
    reason: str = ""


MAX_VERSION_LENGTH = 100
"""The longest version a start accepts: it is stored in every ExecutionStarted row and message."""


def validate_version(version: str) -> str:
    """``version`` stripped, when it is usable: at most ``MAX_VERSION_LENGTH`` characters, no control
    characters; else a one-line ValueError saying what is allowed."""
    if not isinstance(version, str):
        raise TypeError(f"version must be a string such as '2.0', got {type(version).__name__}")
    text = version.strip()
    if len(text) > MAX_VERSION_LENGTH:
        raise ValueError(
            f"version is {len(text)} characters long; at most {MAX_VERSION_LENGTH} are allowed (e.g. '2.0')"
        )
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ValueError(f"version {text[:40]!r} holds a control character; use printable text such as '2.0'")
    return text


def _empty(version: str | None) -> bool:
    return version is None or not version.strip()


def _dotted(version: str) -> tuple[int, int, int, int] | None:
    m = _DOTTED.fullmatch(version)
    if m is None:
        return None
    parts = [int(p) if p is not None else -1 for p in m.groups()]
    if any(p > _INT32_MAX for p in parts):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _fold(text: str) -> str:
    """Upper case, one character for one (an ordinal comparison that ignores case)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0 or 1 as ``a`` is older than, the same as, or newer than ``b`` (DTFx's rules, above)."""
    if _empty(a) or _empty(b):
        return (not _empty(a)) - (not _empty(b))
    assert a is not None and b is not None
    left, right = _dotted(a), _dotted(b)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    fa, fb = _fold(a), _fold(b)
    return (fa > fb) - (fa < fb)


def _shown(version: str | None) -> str:
    return "(none)" if _empty(version) else repr(version)


def admit(instance_version: str | None, worker: Versioning) -> Admission:
    """May a worker with settings ``worker`` run a work item of an instance at ``instance_version``?"""
    if worker.match is VersionMatchStrategy.NONE:
        return Admission("run")
    mine, theirs = worker.version, instance_version
    if worker.match is VersionMatchStrategy.STRICT:
        same = (mine or "") == (theirs or "") or (_empty(mine) and _empty(theirs))
        if same:
            return Admission("run")
        rule = "versionMatchStrategy Strict runs only instances of its own version"
    else:
        if compare_versions(theirs, mine) <= 0:
            return Admission("run")
        rule = "versionMatchStrategy CurrentOrOlder runs only instances of its version or older"
    verdict: Literal["reject", "fail"] = "fail" if worker.failure is VersionFailureStrategy.FAIL else "reject"
    return Admission(
        verdict,
        f"orchestration version {_shown(theirs)} does not match worker version {_shown(mine)} ({rule})",
    )
