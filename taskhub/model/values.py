"""JSON payloads: every input, output, event datum and custom status crosses storage as JSON text.

``to_json`` is called at the call site (``ctx.call_activity(...)``, ``client.start(...)``), so a value
that cannot be stored fails there, with a message naming what it was for and the offending Python type,
before anything is written.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

__all__ = ["to_json", "from_json"]


def to_json(value: Any, *, what: str) -> str:
    """Compact JSON text for ``value``; ``what`` names the value in errors ("input of activity 'x'").

    Raises ``TypeError`` naming ``what`` and the type that JSON cannot represent.
    """

    def reject(obj: Any) -> NoReturn:
        raise TypeError(f"{what} is not JSON-serializable: {_type_name(obj)} values cannot be stored")

    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=reject)
    except TypeError as exc:
        if str(exc).startswith(what):
            raise
        # json's own TypeErrors, e.g. a dict key of an unsupported type.
        raise TypeError(f"{what} is not JSON-serializable: {exc}") from None
    except ValueError as exc:  # circular reference
        raise TypeError(f"{what} is not JSON-serializable: {exc}") from None


def from_json(text: str | None) -> Any:
    """The value of JSON ``text``; ``None`` and ``""`` (no payload) give ``None``.

    Raises ``ValueError`` (``json.JSONDecodeError``) for text that is not JSON.
    """
    if text is None or text == "":
        return None
    return json.loads(text)


def _type_name(obj: Any) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
