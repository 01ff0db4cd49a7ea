"""The services: what thingport does, with no HTTP and no SQL in sight."""

from __future__ import annotations

from dataclasses import dataclass

from thingport.services.attributes import AttributeService
from thingport.services.auth import AuthService
from thingport.services.devices import DeviceService
from thingport.services.telemetry import TelemetryService
from thingport.services.users import UserService
from thingport.store.base import Store


@dataclass
class Services:
    """Every service, built over one store; the transports and the CLI share them."""

    store: Store
    devices: DeviceService
    telemetry: TelemetryService
    attributes: AttributeService
    users: UserService
    auth: AuthService

    @classmethod
    def build(
        cls, store: Store, jwt_key: str, jwt_ttl_s: int = 9000, jwt_refresh_ttl_s: int = 604800
    ) -> Services:
        return cls(
            store=store,
            devices=DeviceService(store),
            telemetry=TelemetryService(store),
            attributes=AttributeService(store),
            users=UserService(store),
            auth=AuthService(store, jwt_key, jwt_ttl_s, jwt_refresh_ttl_s),
        )
