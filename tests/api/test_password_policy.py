"""The password policy on every way a password is set, and the sysadmin's security settings
(``/api/admin/securitySettings``) that hold it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.api.logins import PASSWORD, logged_in, login, message, new_user, running, services_of
from tests.live import SYSADMIN, TENANT_ADMIN
from thingport.app import Thingport
from thingport.domain.model import Authority
from thingport.errors import BadRequest, NotFound
from thingport.services.login_guard import LOCKED
from thingport.services.security_settings import DEFAULTS

TOO_SHORT = "Password must be 6 or more characters in length."


async def activation_token(app: Thingport, admin_email: str = TENANT_ADMIN[0]) -> str:
    async with logged_in(app, admin_email, TENANT_ADMIN[1]) as admin:
        created = await admin.post("/api/user", json={"email": "new@x.io",
                                                      "authority": "TENANT_ADMIN"})
        link = await admin.get(f"/api/user/{created.json()['id']['id']}/activationLink")
        return link.text.split("activateToken=")[1]


async def test_activation_follows_the_policy(tmp_path: Path) -> None:
    async with running(tmp_path) as app:
        token = await activation_token(app)
        async with logged_in(app, *TENANT_ADMIN) as c:
            short = await c.post("/api/noauth/activate",
                                 json={"activateToken": token, "password": "12345"})
            assert short.status_code == 400 and short.json()["errorCode"] == 31
            assert message(short) == TOO_SHORT
            ok = await c.post("/api/noauth/activate",
                              json={"activateToken": token, "password": "123456"})
            assert ok.status_code == 200 and {"token", "refreshToken"} <= set(ok.json())
        assert (await login(app, "new@x.io", "123456")).status_code == 200


async def test_change_password(tmp_path: Path) -> None:
    async with running(tmp_path) as app:
        user = await new_user(app)
        async with logged_in(app, user.email, PASSWORD) as c:
            def change(current: str, new: str) -> dict[str, str]:
                return {"currentPassword": current, "newPassword": new}

            wrong = await c.post("/api/auth/changePassword", json=change("nope", "a-new-one"))
            assert wrong.status_code == 400 and message(wrong) == "Current password doesn't match!"
            short = await c.post("/api/auth/changePassword", json=change(PASSWORD, "abc"))
            assert short.status_code == 400 and message(short) == TOO_SHORT
            same = await c.post("/api/auth/changePassword", json=change(PASSWORD, PASSWORD))
            assert message(same) == "New password should be different from existing!"
            missing = await c.post("/api/auth/changePassword", json={"newPassword": "x" * 8})
            assert missing.status_code == 400
            changed = await c.post("/api/auth/changePassword", json=change(PASSWORD, "a-new-one"))
            assert changed.status_code == 200 and {"token", "refreshToken"} <= set(changed.json())
        assert (await login(app, user.email, PASSWORD)).status_code == 401
        assert (await login(app, user.email, "a-new-one")).status_code == 200


async def test_created_users_and_reset_passwords_follow_the_policy(tmp_path: Path) -> None:
    async with running(tmp_path, login_max_failures=1000) as app:
        users = services_of(app).users
        tenant = await users.default_tenant()
        with pytest.raises(BadRequest, match=TOO_SHORT):
            await users.create_user(tenant.id, None, "short@x.io", Authority.TENANT_ADMIN,
                                    password="12345")
        assert await users.get_user_by_email("short@x.io") is None

        # set_password (the CLI's password reset) checks the policy, and unlocks.
        user = await new_user(app)
        with pytest.raises(BadRequest, match=TOO_SHORT):
            await users.set_password(user.email, "12345")
        for _ in range(11):
            await login(app, user.email, "wrong")
        assert message(await login(app, user.email, PASSWORD)) == LOCKED
        assert (await users.set_password(user.email, "brand-new-pass")).id == user.id
        assert (await login(app, user.email, "brand-new-pass")).status_code == 200
        with pytest.raises(NotFound):
            await users.set_password("nobody@x.io", "brand-new-pass")

        # A stored policy applies to every path at once.
        async with logged_in(app, *SYSADMIN) as admin:
            settings = (await admin.get("/api/admin/securitySettings")).json()
            settings["passwordPolicy"].update(minimumLength=10, minimumDigits=1)
            assert (await admin.post("/api/admin/securitySettings", json=settings)
                    ).status_code == 200
        with pytest.raises(BadRequest) as error:
            await users.set_password(user.email, "nine-char")
        assert error.value.message == ("Password must be 10 or more characters in length.\n"
                                       "Password must contain 1 or more digit characters.")
        token = await activation_token(app)
        async with logged_in(app, *TENANT_ADMIN) as c:
            short = await c.post("/api/noauth/activate",
                                 json={"activateToken": token, "password": "12345678"})
            assert message(short).startswith("Password must be 10 or more")


async def test_security_settings_are_the_sysadmins(tmp_path: Path) -> None:
    async with running(tmp_path) as app:
        async with logged_in(app, *TENANT_ADMIN) as tenant_admin:
            assert (await tenant_admin.get("/api/admin/securitySettings")).status_code == 403
            assert (await tenant_admin.post("/api/admin/securitySettings",
                                            json=DEFAULTS)).status_code == 403
            # The policy itself is for everyone, as ThingsBoard's forms read it.
            policy = await tenant_admin.get("/api/noauth/userPasswordPolicy",
                                            headers={"X-Authorization": ""})
            assert policy.status_code == 200 and policy.json() == DEFAULTS["passwordPolicy"]
        async with logged_in(app, *SYSADMIN) as admin:
            assert (await admin.get("/api/admin/securitySettings")).json() == DEFAULTS
            bad = copy.deepcopy(DEFAULTS)
            bad["passwordPolicy"]["minimumLength"] = 3
            refused = await admin.post("/api/admin/securitySettings", json=bad)
            assert refused.status_code == 400 and refused.json()["errorCode"] == 31
            assert message(refused) == ("Validation error: passwordPolicy.minimumLength must be "
                                        "greater than or equal to 6")
            for body in (b"[1]", b"not json", b""):
                assert (await admin.post("/api/admin/securitySettings", content=body)
                        ).status_code == 400
            assert (await admin.get("/api/admin/securitySettings")).json() == DEFAULTS

            mine = copy.deepcopy(DEFAULTS)
            mine.update(maxFailedLoginAttempts=4, userLockoutNotificationEmail="ops@x.io",
                        futureField={"kept": True})
            mine["passwordPolicy"].update(minimumLength=8, futurePolicy=1)
            saved = await admin.post("/api/admin/securitySettings", json=mine)
            assert saved.status_code == 200 and saved.json() == mine
            assert (await admin.get("/api/admin/securitySettings")).json() == mine


async def test_security_settings_survive_a_restart(tmp_path: Path) -> None:
    mine = copy.deepcopy(DEFAULTS)
    mine["maxFailedLoginAttempts"] = 2
    async with running(tmp_path) as app, logged_in(app, *SYSADMIN) as admin:
        await admin.post("/api/admin/securitySettings", json=mine)
    async with running(tmp_path) as app, logged_in(app, *SYSADMIN) as admin:
        assert (await admin.get("/api/admin/securitySettings")).json() == mine
