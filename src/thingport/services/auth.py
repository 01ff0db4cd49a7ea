"""Passwords and the REST API's JWTs, in the claims layout ThingsBoard's clients decode."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from thingport.domain.model import NULL_UUID, Authority, User
from thingport.errors import TokenExpired, Unauthorized
from thingport.store.base import EntityStore

ISSUER = "thingsboard.io"
REFRESH_SCOPE = "REFRESH_TOKEN"
_hasher = PasswordHasher()
#: Checked against when the e-mail is unknown, so that an unknown e-mail costs the same hashing
#: as a known one and the answer's timing does not tell which e-mails exist.
_DECOY_HASH = _hasher.hash("thingport decoy password")


async def hash_password(password: str) -> str:
    """An argon2id hash, computed off the event loop (it takes tens of ms on purpose)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
    return await asyncio.to_thread(check)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the REST API, as read from a valid access token."""

    user_id: UUID
    email: str
    authority: Authority
    tenant_id: UUID | None
    customer_id: UUID | None


class AuthService:
    """Logs users in and checks the tokens they come back with."""

    def __init__(
        self, store: EntityStore, signing_key: str, access_ttl_s: int = 9000,
        refresh_ttl_s: int = 604800,
    ) -> None:
        self._store = store
        self._key = signing_key
        self._access_ttl = access_ttl_s
        self._refresh_ttl = refresh_ttl_s

    async def login(self, email: str, password: str) -> dict[str, str]:
        """A token pair for valid credentials, else Unauthorized (one message for every
        failure, so the answer does not tell which emails exist)."""
        user = await self._store.get_user_by_email(email)
        credentials = await self._store.get_user_credentials(user.id) if user else None
        usable = (user is not None and credentials is not None and credentials.enabled
                  and bool(credentials.password_hash))
        known_hash = credentials.password_hash if usable and credentials else None
        matches = await verify_password(known_hash or _DECOY_HASH, password)
        if not usable or not matches or user is None:
            raise Unauthorized("Invalid username or password")
        return self.issue(user)

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
