"""Body size limits in ThingsBoard's ``antPattern=bytes;antPattern=bytes`` syntax."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from thingport.errors import ConfigError


def _segments(pattern: str) -> list[str]:
    return pattern.strip("/").split("/")


def ant_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Spring Ant path pattern: ``?`` one character, ``*`` within a segment,
    ``**`` any number of whole segments (including none)."""
    out = []
    segments = _segments(pattern)
    for segment in segments:
        if segment == "**":
            # "/a/**" matches "/a" and "/a/b/c": the separator goes inside the optional group.
            out.append("(?:/.*)?")
            continue
        piece = "".join(
            "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in segment
        )
        out.append("/" + piece)
    return re.compile("".join(out) + "/?$" if out else "/?$")


def ignores_segment(pattern: str, index: int) -> bool:
    """Whether ``pattern`` matches a path (of more than ``index`` segments) or not whatever
    the path's segment ``index`` holds, any non-empty text without "/" (a device's token).

    No compiled piece of a segment matches "/", so the segments before the first ``**`` line
    up one to one with the path's: the answer is yes when segment ``index`` comes before it and
    is ``*``, or when the pattern has fewer segments (it never matches such a path), or when
    the first ``**`` comes at or before ``index`` and ends the pattern (it takes whatever
    follows). Anything else may depend on the segment, and is not claimed."""
    segments = _segments(pattern)
    if "**" in segments:
        first = segments.index("**")
        if first <= index:
            return first == len(segments) - 1
        return segments[index] == "*"
    return len(segments) <= index or segments[index] == "*"


@dataclass(frozen=True)
class PayloadLimits:
    """Ordered (pattern, limit) rules; the first pattern that matches a path decides."""

    rules: tuple[tuple[re.Pattern[str], int], ...]
    #: The rules' Ant patterns, in the same order.
    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str, variable: str = "payload limit") -> PayloadLimits:
        rules = []
        for item in spec.split(";"):
            item = item.strip()
            if not item:
                continue
            pattern, sep, size = item.rpartition("=")
            if not sep or not pattern.strip():
                raise ConfigError(f"{variable}: expected 'pattern=bytes', got {item!r}")
            try:
                limit = int(size)
            except ValueError:
                raise ConfigError(f"{variable}: {size!r} is not a number of bytes") from None
            if limit <= 0:
                raise ConfigError(f"{variable}: the limit for {pattern!r} must be positive")
            rules.append((pattern.strip(), limit))
        return cls(tuple((ant_to_regex(pattern), limit) for pattern, limit in rules),
                   tuple(pattern for pattern, _ in rules))

    def limit_for(self, path: str) -> int | None:
        """The byte limit for ``path``, or None when no pattern matches."""
        for regex, limit in self.rules:
            if regex.match(path):
                return limit
        return None

    def fixed_limits(self, prefix: str, tails: Iterable[str]) -> dict[str, int | None]:
        """For paths ``prefix + segment + "/" + tail``, whatever non-empty ``segment`` without
        "/" (a token): ``limit_for`` of each tail for which the answer is the same for every
        segment, worked out once so that such a request matches no pattern. A tail that is
        left out needs ``limit_for``. ``prefix`` starts and ends with "/"."""
        if len(self.patterns) != len(self.rules):
            return {}
        index = len(_segments(prefix))
        fixed: dict[str, int | None] = {}
        for tail in tails:
            for (regex, limit), pattern in zip(self.rules, self.patterns, strict=True):
                if not ignores_segment(pattern, index):
                    break  # this rule, or no rule, may decide, depending on the segment
                if regex.match(f"{prefix}x/{tail}"):
                    fixed[tail] = limit
                    break
            else:
                fixed[tail] = None
        return fixed
