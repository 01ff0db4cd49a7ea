"""How deep JSON values nest, against what orjson can write back.

orjson writes at most ``ORJSON_MAX_DEPTH`` levels of arrays and objects and raises past them,
while values can arrive deeper: the device API accepts 255 levels (Gson's limit), orjson reads
1024. Whatever is stored is later written inside a response, a few levels further down.
"""

from __future__ import annotations

from typing import Any

#: Deepest nesting orjson.dumps writes.
ORJSON_MAX_DEPTH = 254


def deeper_than(value: Any, limit: int, text: str | bytes | None = None) -> bool:
    """Whether arrays and objects nest in ``value`` more than ``limit`` levels (a scalar is 0),
    without recursion. With ``text``, the value's JSON, a text with too few brackets to nest
    that deep is answered without walking the value."""
    if isinstance(text, str) and text.count("[") + text.count("{") <= limit:
        return False
    if isinstance(text, bytes) and text.count(b"[") + text.count(b"{") <= limit:
        return False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if level >= limit:
            return True
        stack.extend((child, level + 1) for child in item)
    return False
