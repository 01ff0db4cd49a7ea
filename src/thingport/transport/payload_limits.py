"""Body size limits in ThingsBoard's ``antPattern=bytes;antPattern=bytes`` syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

from thingport.errors import ConfigError


def ant_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Spring Ant path pattern: ``?`` one character, ``*`` within a segment,
    ``**`` any number of whole segments (including none)."""
    out = []
    segments = pattern.strip("/").split("/")
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


@dataclass(frozen=True)
class PayloadLimits:
    """Ordered (pattern, limit) rules; the first pattern that matches a path decides."""

    rules: tuple[tuple[re.Pattern[str], int], ...]

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
            rules.append((ant_to_regex(pattern.strip()), limit))
        return cls(tuple(rules))

    def limit_for(self, path: str) -> int | None:
        """The byte limit for ``path``, or None when no pattern matches."""
        for regex, limit in self.rules:
            if regex.match(path):
                return limit
        return None
