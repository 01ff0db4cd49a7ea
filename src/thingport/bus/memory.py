"""The in-process bus: one node, no network."""

from __future__ import annotations

from thingport.bus.base import Bus


class MemoryBus(Bus):
    """Delivers within this process only: the default for a single node."""

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def ping(self, timeout_s: float = 1.0) -> None:
        """Always up: there is no connection to lose."""

    def may_have_subscribers(self, channel: str) -> bool:
        """Only this process's subscribers exist."""
        return self.local.has_subscribers(channel)

    async def publish(self, channel: str, message: bytes = b"") -> None:
        """Deliver to this process's subscribers at once."""
        self.local.fan_out(channel, message)
