"""Device provisioning: a device presents a profile's provision key and secret and gets its
credentials, as ThingsBoard's ``DeviceProvisionServiceImpl`` decides.

- ``ALLOW_CREATE_NEW_DEVICES``: a new device is created in the profile (FAILURE if the name is
  taken), with the credentials the device asked for, or a generated access token.
- ``CHECK_PRE_PROVISIONED_DEVICES``: a device of that name must already exist in the profile;
  its existing credentials are handed out once (FAILURE afterwards).
- A wrong key or secret, or a profile that does not provision, is NOT_FOUND.

Either way a provisioned device gets the server attribute ``provisionState="provisioned"``.
NOT_FOUND answers are counted per client address; too many block it for a while
(``TooManyRequests``), so that secrets cannot be guessed at speed.

Credentials asked for are stored as ThingsBoard stores them, so that their ids are the ones its
MQTT transport would look up:

- ACCESS_TOKEN: the id is the token;
- MQTT_BASIC: the value is ``{"clientId","userName","password"}`` as JSON text; the id is the user
  name when there is no client id, else SHA3-256 (hex) of the client id, or of
  ``clientId|userName`` when both are given;
- X509_CERTIFICATE: the value is the certificate as sent (PEM); the id is SHA3-256 (hex) of it
  without its BEGIN/END lines and line breaks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid

import orjson

from thingport.clock import now_ms
from thingport.domain.model import (
    AttributeScope,
    DataType,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    KvEntry,
    ProvisionType,
)
from thingport.domain.provisioning import ProvisionRequest, ProvisionResult, ProvisionStatus
from thingport.errors import BadRequest, Conflict, NotFound, TooManyRequests
from thingport.services.devices import DeviceService
from thingport.services.failure_limit import FailureLimit
from thingport.services.keyed_locks import KeyedLocks
from thingport.services.tokens import random_alphanumeric
from thingport.store.base import Store

log = logging.getLogger(__name__)

PROVISION_STATE = "provisionState"
PROVISIONED = "provisioned"

NOT_FOUND = ProvisionResult(ProvisionStatus.NOT_FOUND)
FAILURE = ProvisionResult(ProvisionStatus.FAILURE)


class _Rejected(Exception):
    """The credentials asked for are unusable (ThingsBoard's validation would refuse them)."""


class ProvisioningService:
    """Answers provision requests, and slows down addresses that keep getting secrets wrong."""

    def __init__(self, store: Store, devices: DeviceService, limiter: FailureLimit) -> None:
        self._store = store
        self._devices = devices
        self.limiter = limiter
        self._per_client = KeyedLocks()

    async def provision(self, request: ProvisionRequest, client: str) -> ProvisionResult:
        """The outcome for ``request`` from the address ``client``; TooManyRequests while that
        address is blocked after too many NOT_FOUND answers."""
        # One request per address at a time: concurrent guesses would otherwise all pass the
        # check before any of them had been counted. (Per node: with the counts in Redis,
        # simultaneous guesses on N nodes can overshoot the limit by at most N - 1.)
        async with self._per_client.hold(client):
            await self.refuse_if_blocked(client)
            name = request.device_name.strip()
            if request.device_name and not name:
                return FAILURE
            profile = await self._profile_for(request)
            if profile is None:
                if await self.limiter.record_failure(client):
                    log.warning("%s blocked for %s s after %d wrong provision keys or secrets",
                                client, self.limiter.window_s, self.limiter.max_failures)
                return NOT_FOUND
        try:
            if profile.provision_type is ProvisionType.ALLOW_CREATE_NEW_DEVICES:
                return await self._create(profile, name, request)
            return await self._pre_provisioned(profile, name)
        except NotFound:
            # The device was deleted while it was being provisioned.
            return FAILURE

    async def refuse_if_blocked(self, client: str) -> None:
        """TooManyRequests while ``client`` is blocked: the device API asks before it reads
        (let alone parses) a request's body, so that a blocked address costs no parsing."""
        wait = await self.limiter.retry_after(client)
        if wait:
            raise TooManyRequests(
                f"Too many failed provision attempts; retry in {wait} s", retry_after=wait
            )

    async def _profile_for(self, request: ProvisionRequest) -> DeviceProfile | None:
        """The provisioning profile whose key and secret these are, else None."""
        key, secret = request.provision_device_key, request.provision_device_secret
        if not key or not secret:
            return None
        profile = await self._store.get_device_profile_by_provision_key(key)
        if profile is None or profile.provision_type is ProvisionType.DISABLED:
            return None
        expected = profile.provision_device_secret
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return None
        return profile

    async def _create(
        self, profile: DeviceProfile, name: str, request: ProvisionRequest
    ) -> ProvisionResult:
        try:
            credentials = _requested_credentials(request)
        except _Rejected:
            return FAILURE
        try:
            device, saved = await self._devices.create(
                profile.tenant_id, name or random_alphanumeric(20), profile_id=profile.id,
                additional_info={"gateway": True} if request.gateway else None,
                credentials=credentials,
            )
        except (BadRequest, Conflict):
            # A taken name or credentials id, as ThingsBoard: FAILURE, and nothing stored.
            return FAILURE
        await self._mark_provisioned(device.id)
        return ProvisionResult(ProvisionStatus.SUCCESS, saved)

    async def _pre_provisioned(self, profile: DeviceProfile, name: str) -> ProvisionResult:
        device = await self._store.get_device_by_name(profile.tenant_id, name) if name else None
        if device is None or device.device_profile_id != profile.id:
            return FAILURE
        # One compare-and-set in the store: of two requests for the device, on any nodes,
        # exactly one marks it provisioned and gets its credentials.
        credentials = await self._store.get_device_credentials(device.id)
        if credentials is None or not await self._store.add_attribute(
            device.id, AttributeScope.SERVER_SCOPE,
            KvEntry(PROVISION_STATE, DataType.STRING, PROVISIONED), now_ms(),
        ):
            return FAILURE
        return ProvisionResult(ProvisionStatus.SUCCESS, credentials)

    async def _mark_provisioned(self, device_id: uuid.UUID) -> None:
        await self._store.save_attributes(
            device_id, AttributeScope.SERVER_SCOPE,
            [KvEntry(PROVISION_STATE, DataType.STRING, PROVISIONED)], now_ms(),
        )


def _requested_credentials(request: ProvisionRequest) -> DeviceCredentials | None:
    """The credentials the device asked for; None (a generated access token) when it sent no
    credentials field at all, whatever its credentialsType."""
    if not any((request.token, request.client_id, request.username, request.password,
                request.certificate)):
        return None
    kind = request.credentials_type
    value: str | None = None
    if kind is DeviceCredentialsType.ACCESS_TOKEN:
        if not request.token.strip():
            raise _Rejected
        credentials_id = request.token
    elif kind is DeviceCredentialsType.MQTT_BASIC:
        credentials_id = _mqtt_basic_id(request.client_id, request.username, request.password)
        value = orjson.dumps({"clientId": request.client_id, "userName": request.username,
                              "password": request.password}).decode()
    else:
        if not request.certificate.strip():
            raise _Rejected
        credentials_id = _sha3(request.certificate)
        value = request.certificate
    return DeviceCredentials(
        id=uuid.uuid4(), device_id=uuid.UUID(int=0), created_time=0, credentials_type=kind,
        credentials_id=credentials_id, credentials_value=value,
    )


def _mqtt_basic_id(client_id: str, username: str, password: str) -> str:
    """The credentials id ThingsBoard gives MQTT_BASIC credentials."""
    if not client_id and not username:
        raise _Rejected  # "Both mqtt client id and user name are empty!"
    if client_id and password and not username:
        raise _Rejected  # "Password cannot be specified along with client id"
    if not client_id:
        return username
    if not username:
        return _sha3(client_id)
    return _sha3(f"{client_id}|{username}")


def _sha3(text: str) -> str:
    # ThingsBoard's EncryptionUtil.getSha3Hash strips PEM armour and line breaks from
    # whatever it hashes, MQTT client ids included.
    trimmed = (text.replace("-----BEGIN CERTIFICATE-----", "").replace("\n", "")
               .replace("\r", "").replace("-----END CERTIFICATE-----", ""))
    return hashlib.sha3_256(trimmed.encode()).hexdigest()
