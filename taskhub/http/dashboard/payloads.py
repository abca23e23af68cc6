"""Payloads as a reader expects them: the Durable Functions Python SDK's JSON text decoded once. Pure.

The SDK hands the extension JSON *text* where a value is expected, so a Durable Functions app's payloads
arrive encoded twice: an orchestration's input ``"hello"`` is stored as ``"\\"hello\\""``, an activity's
input as ``["\\"hello\\""]`` (DTFx's ``object[]`` around the SDK's text). The history keeps that byte for
byte (other hosts must read it); the dashboard shows the value under it and says so.

A string is taken for such text only when it starts with ``"``, ``{`` or ``[`` and parses as JSON; it is
decoded at the top level and in the elements of a top-level list, never deeper.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SDK_NOTE", "decode_once", "preview_text"]

SDK_NOTE = "Shown decoded: stored as JSON text inside JSON, as the Durable Functions Python SDK writes it."


def _text_value(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str) and value.lstrip()[:1] in ('"', "{", "["):
        try:
            return json.loads(value), True
        except ValueError:
            pass
    return value, False


def decode_once(value: Any) -> tuple[Any, bool]:
    """(the value with one layer of JSON text decoded, whether anything was)."""
    if isinstance(value, list):
        items = [_text_value(v) for v in value]
        return [v for v, _ in items], any(changed for _, changed in items)
    return _text_value(value)


def preview_text(text: str) -> str:
    """A stored payload's JSON text with the SDK's inner layer decoded, compact; else ``text`` as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    decoded, changed = decode_once(value)
    return json.dumps(decoded, ensure_ascii=False, separators=(", ", ": ")) if changed else text
