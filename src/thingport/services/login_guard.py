"""What stands between a password guesser and the accounts: a per-address limit and the
account lockout.

- ``AddressLimit``: wrong logins are counted per client address (``FailureLimit``: this
  node's memory, or Redis shared by the nodes). An address that has failed ``max_failures``
  times within the window is answered 429 with ``Retry-After`` until the window has passed, and
  that is decided before anything is read or hashed, so a flood costs almost nothing. One login
  per address runs at a time on a node: otherwise a burst would pass the check all at once,
  before any of its failures had been counted.
- ``AccountLockout``: ThingsBoard's ``maxFailedLoginAttempts``. The count of wrong passwords in a
  row lives in the store (it survives a restart and every node sees it); the wrong password
  after ``maxFailedLoginAttempts`` of them disables the account's credentials, marked as locked
  by the policy. An administrator unlocks it (``userCredentialsEnabled=true``, or the CLI), or
  the lockout delay does, at the next login after it has passed. A right password resets the
  count.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import UserCredentials
from thingport.errors import TooManyRequests, Unauthorized
from thingport.services.failure_limit import FailureLimit, Primary, failure_limit
from thingport.services.keyed_locks import KeyedLocks
from thingport.store.base import EntityStore

log = logging.getLogger(__name__)

#: ThingsBoard's answers (ThingsboardErrorResponseHandler), all 401 with errorCode 10.
INVALID: str = "Invalid username or password"
LOCKED: str = "User account is locked due to security policy"
NOT_ACTIVE: str = "User account is not active"

#: Key prefix of the login limit in Redis (the provisioning limit has its own).
REDIS_PREFIX = "thingport:login-failures"


def address_limit(redis_url: str | None, max_failures: int, window_s: float,
                  primary: Primary | None = None) -> AddressLimit:
    """The limit shared through Redis when a Redis URL is set, else the primary's (in a worker
    process), else this process's memory."""
    return AddressLimit(failure_limit(redis_url, max_failures, window_s, prefix=REDIS_PREFIX,
                                      name="login", primary=primary))


class AddressLimit:
    """Wrong logins per client address, and the addresses they block for a while."""

    def __init__(self, limit: FailureLimit) -> None:
        self.limit = limit
        self._per_address = KeyedLocks()

    @contextlib.asynccontextmanager
    async def attempt(self, address: str) -> AsyncIterator[None]:
        """Around one login from ``address``: TooManyRequests at once while it is blocked."""
        # Per node: with the counts in Redis, simultaneous guesses on N nodes can overshoot
        # the limit by at most N - 1.
        async with self._per_address.hold(address):
            wait = await self.limit.retry_after(address)
            if wait:
                raise TooManyRequests(
                    f"Too many failed login attempts from this address; retry in {wait} s",
                    retry_after=wait, limit="login",
                )
            yield

    async def failed(self, address: str) -> None:
        """Count a wrong login from ``address``."""
        if await self.limit.record_failure(address):
            log.warning("%s blocked for %s s after %d failed logins", address,
                        self.limit.window_s, self.limit.max_failures)

    async def close(self) -> None:
        """Release the limit's connections."""
        await self.limit.close()


class AccountLockout:
    """Locks an account after too many wrong passwords in a row; lifts the lock after
    ``lockout_s`` seconds (0: only an administrator does)."""

    def __init__(self, store: EntityStore, lockout_s: int,
                 clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self.lockout_s = lockout_s
        #: ms since the epoch; replaceable, so that tests need not wait out the delay.
        self.clock = clock

    async def admit(self, credentials: UserCredentials) -> UserCredentials:
        """The credentials a password may be checked against; Unauthorized (LOCKED or
        NOT_ACTIVE, without checking the password, as ThingsBoard) when they are disabled. A
        policy lock older than the delay is lifted first."""
        if credentials.enabled:
            return credentials
        locked_at = credentials.locked_at
        if locked_at is None:
            raise Unauthorized(NOT_ACTIVE)
        if not self.lockout_s or self.clock() < locked_at + self.lockout_s * 1000:
            raise Unauthorized(LOCKED)
        if not await self._store.unlock_user_credentials(credentials.user_id, locked_at):
            # Someone changed them meanwhile (another node lifted the lock, or an
            # administrator disabled the account): decide on what is stored now.
            current = await self._store.get_user_credentials(credentials.user_id)
            if current is None or not current.enabled:
                raise Unauthorized(LOCKED if current and current.locked_at else NOT_ACTIVE)
            return current
        log.info("user %s: lockout delay over, account unlocked", credentials.user_id)
        return UserCredentials(credentials.user_id, credentials.password_hash,
                               credentials.activate_token, True)

    async def failed(self, user_id: UUID, max_attempts: int) -> Unauthorized:
        """A wrong password: count it. The error to answer: LOCKED when this one locks the
        account (more than ``max_attempts`` in a row; 0: no limit), else INVALID."""
        count = await self._store.add_failed_login(user_id)
        if max_attempts > 0 and count > max_attempts:
            await self._store.lock_user_credentials(user_id, self.clock())
            log.warning("user %s locked after %d wrong passwords in a row", user_id, count)
            return Unauthorized(LOCKED)
        return Unauthorized(INVALID)

    async def succeeded(self, credentials: UserCredentials) -> None:
        """A right password: the count starts again (written only when there is one)."""
        if credentials.failed_login_attempts:
            await self._store.reset_failed_logins(credentials.user_id)
