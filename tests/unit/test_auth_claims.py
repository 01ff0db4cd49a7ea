"""JWTs signed with our key but with claims of the wrong shape are refused, not a 500."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from thingport.domain.model import Authority, User
from thingport.errors import Unauthorized
from thingport.services.auth import AuthService
from thingport.services.passwords import Passwords

KEY = "a-test-signing-key-long-enough-for-hs256-0123456789"


class Users:
    """The store methods the checks reach: every user id is a tenant administrator, and no
    e-mail is known."""

    async def get_user(self, user_id: uuid.UUID) -> User:
        return User(user_id, uuid.uuid4(), None, "a@b.c", Authority.TENANT_ADMIN, 0)

    async def get_user_by_email(self, email: str) -> User | None:
        return None


def signed(**claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + 60, "sub": "a@b.c", **claims}, KEY,
                      algorithm="HS256")


def service() -> AuthService:
    return AuthService(Users(), KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize("claims", [
    {"userId": 42, "scopes": ["TENANT_ADMIN"]},
    {"scopes": ["TENANT_ADMIN"]},
    {"userId": "not-a-uuid", "scopes": ["TENANT_ADMIN"]},
    {"userId": str(uuid.uuid4()), "scopes": "TENANT_ADMIN"},
    {"userId": str(uuid.uuid4())},
    {"userId": str(uuid.uuid4()), "scopes": [1]},
    {"userId": str(uuid.uuid4()), "scopes": ["REFRESH_TOKEN"]},
])
async def test_malformed_access_claims_are_unauthorized(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        await service().principal(signed(**claims))


@pytest.mark.parametrize("scopes", ["NOT_A_REFRESH_TOKEN", "REFRESH_TOKEN", ["TENANT_ADMIN"],
                                    ["REFRESH_TOKEN", "TENANT_ADMIN"]])
async def test_only_a_refresh_scope_list_refreshes(scopes: Any) -> None:
    with pytest.raises(Unauthorized):
        await service().refresh(signed(userId=str(uuid.uuid4()), scopes=scopes))


async def test_a_well_formed_access_token_is_accepted() -> None:
    user_id = uuid.uuid4()
    caller = await service().principal(signed(userId=str(user_id), scopes=["TENANT_ADMIN"]))
    assert caller.user_id == user_id


async def test_an_unknown_email_costs_a_password_check_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Otherwise the answer's timing tells which e-mails exist (1.5 ms against 123 ms)."""
    checked: list[str] = []
    real = Passwords._check

    def counting(self: Passwords, password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real(self, password_hash, password)

    monkeypatch.setattr(Passwords, "_check", counting)
    with pytest.raises(Unauthorized):
        await service().login("nobody@example.com", "guess")
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")
