"""Logins and the REST API's JWTs, in the claims layout ThingsBoard's clients decode."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from thingport.domain.model import NULL_UUID, Authority, User
from thingport.errors import BadRequest, TokenExpired, Unauthorized
from thingport.services.login_guard import INVALID, AccountLockout, AddressLimit
from thingport.services.passwords import Passwords
from thingport.services.security_settings import SecuritySettingsService
from thingport.store.base import EntityStore

ISSUER = "thingsboard.io"
REFRESH_SCOPE = "REFRESH_TOKEN"
#: ThingsBoard's message when the caller's authority may not do what it asked.
NOT_ALLOWED = "You don't have permission to perform this operation!"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the REST API, as read from a valid access token."""

    user_id: UUID
    email: str
    authority: Authority
    tenant_id: UUID | None
    customer_id: UUID | None


class AuthService:
    """Logs users in (behind the per-address limit and the account lockout), changes their
    passwords, and checks the tokens they come back with."""

    def __init__(
        self, store: EntityStore, signing_key: str, access_ttl_s: int = 9000,
        refresh_ttl_s: int = 604800, *, passwords: Passwords | None = None,
        security: SecuritySettingsService | None = None,
        address_limit: AddressLimit | None = None, lockout: AccountLockout | None = None,
    ) -> None:
        self._store = store
        self._key = signing_key
        self._access_ttl = access_ttl_s
        self._refresh_ttl = refresh_ttl_s
        self.passwords = passwords or Passwords()
        self.security = security or SecuritySettingsService(store)
        #: None: no per-address limit (a service built for a one-off command).
        self.address_limit = address_limit
        self.lockout = lockout or AccountLockout(store, 0)

    async def login(self, email: str, password: str, client: str = "") -> dict[str, str]:
        """A token pair for valid credentials. TooManyRequests while the address ``client``
        is blocked (decided before any hashing); else Unauthorized: "Invalid username or
        password" for an unknown e-mail and a wrong password alike (an unknown e-mail costs
        the same hashing, so the timing does not tell either), ThingsBoard's lockout and
        "not active" answers for a locked or disabled account."""
        if self.address_limit is None:
            return await self._login(email, password)
        async with self.address_limit.attempt(client):
            try:
                return await self._login(email, password)
            except Unauthorized:
                await self.address_limit.failed(client)
                raise

    async def _login(self, email: str, password: str) -> dict[str, str]:
        user = await self._store.get_user_by_email(email)
        credentials = await self._store.get_user_credentials(user.id) if user else None
        if user is None or credentials is None:
            await self.passwords.verify(None, password)
            raise Unauthorized(INVALID)
        credentials = await self.lockout.admit(credentials)
        if not await self.passwords.verify(credentials.password_hash, password):
            policy = await self.security.policy()
            raise await self.lockout.failed(user.id, policy.max_failed_login_attempts)
        await self.lockout.succeeded(credentials)
        return self.issue(user)

    async def change_password(self, user_id: UUID, current: str, new: str) -> dict[str, str]:
        """ThingsBoard's ``changePassword``: the current password must match and the new one
        follow the policy and differ from it (each a 400); a new token pair."""
        user = await self._store.get_user(user_id)
        credentials = await self._store.get_user_credentials(user_id) if user else None
        if user is None or credentials is None or not credentials.enabled:
            raise Unauthorized("User not found")
        if not await self.passwords.verify(credentials.password_hash, current):
            raise BadRequest("Current password doesn't match!")
        await self.security.check_password(new)
        if await self.passwords.verify(credentials.password_hash, new):
            raise BadRequest("New password should be different from existing!")
        credentials.password_hash = await self.passwords.hash(new)
        await self._store.save_user(user, credentials)
        return self.issue(user)

    async def close(self) -> None:
        """Release the per-address limit's connections and the hashing threads."""
        if self.address_limit is not None:
            await self.address_limit.close()
        self.passwords.close()

    async def refresh(self, refresh_token: str) -> dict[str, str]:
        """A new token pair for a valid refresh token."""
        claims = self._decode(refresh_token)
        if _scopes(claims) != [REFRESH_SCOPE]:
            raise Unauthorized("Invalid JWT token")
        user = await self._store.get_user(_user_id(claims))
        credentials = await self._store.get_user_credentials(user.id) if user else None
        if user is None or credentials is None or not credentials.enabled:
            raise Unauthorized("User not found")
        return self.issue(user)

    def issue(self, user: User) -> dict[str, str]:
        """An access and a refresh token for ``user``."""
        now = int(time.time())
        session = str(uuid.uuid4())
        access: dict[str, Any] = {
            "sub": user.email, "userId": str(user.id), "scopes": [user.authority.value],
            "sessionId": session, "iss": ISSUER, "iat": now, "exp": now + self._access_ttl,
            "firstName": user.first_name, "lastName": user.last_name, "enabled": True,
            "isPublic": False, "tenantId": str(user.tenant_id or NULL_UUID),
            "customerId": str(user.customer_id or NULL_UUID),
        }
        refresh: dict[str, Any] = {
            "sub": user.email, "userId": str(user.id), "scopes": [REFRESH_SCOPE],
            "sessionId": session, "iss": ISSUER, "jti": str(uuid.uuid4()), "iat": now,
            "exp": now + self._refresh_ttl, "isPublic": False,
        }
        import jwt  # here: it brings ``cryptography`` (~8 MB) that an idle server never needs

        return {
            "token": jwt.encode(access, self._key, algorithm="HS256"),
            "refreshToken": jwt.encode(refresh, self._key, algorithm="HS256"),
        }

    async def principal(self, access_token: str) -> Principal:
        """The caller behind an access token; the user must still exist."""
        claims = self._decode(access_token)
        if REFRESH_SCOPE in _scopes(claims):
            raise Unauthorized("Invalid JWT token")
        user = await self._store.get_user(_user_id(claims))
        if user is None:
            raise Unauthorized("User not found")
        return Principal(
            user_id=user.id, email=user.email, authority=user.authority,
            tenant_id=user.tenant_id, customer_id=user.customer_id,
        )

    def _decode(self, token: str) -> dict[str, Any]:
        import jwt  # a lookup in sys.modules once imported (see ``tokens``)

        try:
            return jwt.decode(
                token, self._key, algorithms=["HS256"], options={"require": ["exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("Token has expired") from None
        except (jwt.InvalidTokenError, ValueError):
            raise Unauthorized("Invalid JWT token") from None


def _scopes(claims: dict[str, Any]) -> list[str]:
    """The ``scopes`` claim, which must be a list of strings (a string that merely contains
    ``REFRESH_TOKEN`` is no scope list)."""
    scopes = claims.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise Unauthorized("Invalid JWT token")
    return scopes


def _user_id(claims: dict[str, Any]) -> UUID:
    """The ``userId`` claim, which must be a UUID string."""
    raw = claims.get("userId")
    if not isinstance(raw, str):
        raise Unauthorized("Invalid JWT token")
    try:
        return UUID(raw)
    except ValueError:
        raise Unauthorized("Invalid JWT token") from None
