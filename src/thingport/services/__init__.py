"""The services: what thingport does, with no HTTP and no SQL in sight."""

from __future__ import annotations

from dataclasses import dataclass, field

from thingport.bus import Bus
from thingport.services.activity import ActivityTracker
from thingport.services.attributes import AttributeService
from thingport.services.auth import AuthService
from thingport.services.claiming import ClaimingService
from thingport.services.client_rpc import ClientRpcService
from thingport.services.customers import CustomerService
from thingport.services.devices import DeviceService
from thingport.services.failure_limit import failure_limit
from thingport.services.health import HealthService
from thingport.services.live import LiveService
from thingport.services.ota import OtaService
from thingport.services.profiles import DeviceProfileService
from thingport.services.provisioning import ProvisioningService
from thingport.services.rpc import RpcService
from thingport.services.telemetry import TelemetryService
from thingport.services.users import UserService
from thingport.settings import Settings
from thingport.store.base import Store


@dataclass
class Services:
    """Every service, built over one store; the transports and the CLI share them."""

    store: Store
    bus: Bus
    devices: DeviceService
    telemetry: TelemetryService
    attributes: AttributeService
    users: UserService
    customers: CustomerService
    auth: AuthService
    rpc: RpcService
    client_rpc: ClientRpcService
    claiming: ClaimingService
    profiles: DeviceProfileService
    provisioning: ProvisioningService
    live: LiveService
    activity: ActivityTracker
    #: Built from the others (see __post_init__), so build() needs no change for it.
    ota: OtaService = field(init=False)
    health: HealthService = field(init=False)

    def __post_init__(self) -> None:
        self.ota = OtaService(self.store, self.attributes, self.telemetry)
        self.health = HealthService(self.store, self.bus)
        # However a device is created or changed (REST, provisioning, CLI), its firmware and
        # software attributes follow.
        self.devices.on_saved(self.ota.device_saved)
        self.profiles.on_save(self.ota.check_profile_assignment,
                              self.ota.profile_assignment_changed)

    @classmethod
    def build(cls, store: Store, bus: Bus, settings: Settings, jwt_key: str) -> Services:
        devices = DeviceService(store, bus)
        attributes = AttributeService(store, bus)
        return cls(
            store=store,
            bus=bus,
            devices=devices,
            telemetry=TelemetryService(store, bus),
            attributes=attributes,
            users=UserService(store),
            customers=CustomerService(store),
            auth=AuthService(store, jwt_key, settings.jwt_expiration_s,
                             settings.jwt_refresh_expiration_s),
            rpc=RpcService(store, bus, settings.rpc_default_timeout_ms,
                           settings.rpc_min_timeout_ms),
            client_rpc=ClientRpcService(store, bus, settings.client_rpc_timeout_ms),
            claiming=ClaimingService(store, devices, settings.claim_duration_ms,
                                     settings.claim_allowed_by_default),
            profiles=DeviceProfileService(store, devices),
            provisioning=ProvisioningService(store, devices, failure_limit(
                settings.redis_url, settings.provision_max_failures,
                settings.provision_failure_window_s)),
            live=LiveService(bus),
            activity=ActivityTracker(
                store, attributes, bus,
                inactivity_timeout_ms=settings.inactivity_timeout_s * 1000,
                check_interval_ms=settings.state_check_interval_s * 1000,
                flush_interval_ms=settings.activity_flush_interval_ms,
            ),
        )
