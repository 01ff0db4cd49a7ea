"""The services: what thingport does, with no HTTP and no SQL in sight."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from thingport.bus import Bus
from thingport.domain.rate_limit import (
    DEVICE_MSG,
    DEVICE_TELEMETRY_DATA_POINTS,
    DEVICE_TELEMETRY_MSG,
    TENANT_MSG,
    TENANT_TELEMETRY_DATA_POINTS,
    TENANT_TELEMETRY_MSG,
    TransportLimits,
)
from thingport.services.activity import ActivityTracker
from thingport.services.attributes import AttributeService
from thingport.services.auth import AuthService
from thingport.services.claiming import ClaimingService
from thingport.services.client_rpc import ClientRpcService
from thingport.services.customers import CustomerService
from thingport.services.devices import DeviceService
from thingport.services.failure_limit import (
    ACCESS_TOKEN_PREFIX,
    CLAIM_PREFIX,
    FailureLimit,
    Primary,
    failure_limit,
)
from thingport.services.health import HealthService
from thingport.services.live import LiveService
from thingport.services.login_guard import AccountLockout, address_limit
from thingport.services.ota import OtaService
from thingport.services.passwords import Passwords
from thingport.services.profiles import DeviceProfileService
from thingport.services.provisioning import ProvisioningService
from thingport.services.rate_limits import RateLimitService
from thingport.services.rpc import RpcService
from thingport.services.security_settings import SecuritySettingsService
from thingport.services.telemetry import TelemetryService
from thingport.services.tenant_profiles import TenantProfileService
from thingport.services.tenants import TenantService
from thingport.services.token_guard import TokenGuard
from thingport.services.users import UserService
from thingport.store.base import Store

if TYPE_CHECKING:
    # Only a type here: importing it would load the settings table (and TLS) into every
    # process that merely uses the services (workers, the CLI's commands, tests).
    from thingport.settings import Settings


@dataclass
class Services:
    """Every service, built over one store; the transports and the CLI share them."""

    store: Store
    bus: Bus
    devices: DeviceService
    telemetry: TelemetryService
    attributes: AttributeService
    users: UserService
    auth: AuthService
    rpc: RpcService
    client_rpc: ClientRpcService
    claiming: ClaimingService
    profiles: DeviceProfileService
    provisioning: ProvisioningService
    live: LiveService
    activity: ActivityTracker
    security: SecuritySettingsService
    #: Built from the others (see __post_init__), so build() needs no change for it.
    ota: OtaService = field(init=False)
    health: HealthService = field(init=False)
    customers: CustomerService = field(init=False)
    #: The device API's limits (see limit_device_api), set by build().
    rate_limits: RateLimitService = field(init=False)
    tenant_profiles: TenantProfileService = field(init=False)
    tenants: TenantService = field(init=False)
    #: None when TB_TRANSPORT_IP_RATE_LIMITS_ENABLED is false.
    token_guard: TokenGuard | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.ota = OtaService(self.store, self.attributes, self.telemetry)
        self.health = HealthService(self.store, self.bus)
        self.customers = CustomerService(self.store, self.devices, self.claiming)
        # However a device is created or changed (REST, provisioning, CLI), its firmware and
        # software attributes follow.
        self.devices.on_saved(self.ota.device_saved)
        self.profiles.on_save(self.ota.check_profile_assignment,
                              self.ota.profile_assignment_changed)

    @classmethod
    def build(cls, store: Store, bus: Bus, settings: Settings, jwt_key: str, *,
              primary: Primary | None = None) -> Services:
        """Every service over ``store`` and ``bus``; a worker process passes its ``primary``,
        whose failure limits it shares (without Redis)."""
        devices = DeviceService(store, bus)
        attributes = AttributeService(store, bus)
        passwords = Passwords(settings.password_hash_concurrency)
        security = SecuritySettingsService(store)
        services = cls(
            store=store,
            bus=bus,
            devices=devices,
            telemetry=TelemetryService(store, bus),
            attributes=attributes,
            users=UserService(store, passwords, security),
            auth=AuthService(
                store, jwt_key, settings.jwt_expiration_s, settings.jwt_refresh_expiration_s,
                passwords=passwords, security=security,
                address_limit=address_limit(settings.redis_url, settings.login_max_failures,
                                            settings.login_failure_window_s, primary),
                lockout=AccountLockout(store, settings.login_lockout_s),
            ),
            rpc=RpcService(store, bus, settings.rpc_default_timeout_ms,
                           settings.rpc_min_timeout_ms),
            client_rpc=ClientRpcService(store, bus, settings.client_rpc_timeout_ms),
            claiming=ClaimingService(
                store, devices, settings.claim_duration_ms, settings.claim_allowed_by_default,
                failure_limit(settings.redis_url, settings.claim_max_failures,
                              settings.claim_failure_window_s, prefix=CLAIM_PREFIX,
                              name="claim", primary=primary),
            ),
            profiles=DeviceProfileService(store, devices),
            provisioning=ProvisioningService(store, devices, failure_limit(
                settings.redis_url, settings.provision_max_failures,
                settings.provision_failure_window_s, primary=primary)),
            live=LiveService(bus),
            activity=ActivityTracker(
                store, attributes, bus,
                inactivity_timeout_ms=settings.inactivity_timeout_s * 1000,
                check_interval_ms=settings.state_check_interval_s * 1000,
                flush_interval_ms=settings.activity_flush_interval_ms,
            ),
            security=security,
        )
        services.limit_device_api(settings, primary)
        return services

    def failure_limits(self) -> list[FailureLimit]:
        """The per-address failure limits (the primary serves them to its workers)."""
        limits = [self.claiming.limiter, self.provisioning.limiter]
        if self.token_guard is not None:
            limits.append(self.token_guard.limit)
        if self.auth.address_limit is not None:
            limits.append(self.auth.address_limit.limit)
        return limits

    def limit_device_api(self, settings: Settings, primary: Primary | None = None) -> None:
        """The rate limits and the wrong-token limit of the device API, from ``settings``."""
        self.rate_limits = RateLimitService(self.store, self.bus, rate_limit_defaults(settings))
        self.tenant_profiles = TenantProfileService(self.store, self.rate_limits)
        self.tenants = TenantService(self.users, self.tenant_profiles, self.rate_limits)
        if settings.ip_limits_enabled:
            self.token_guard = TokenGuard(failure_limit(
                settings.redis_url, settings.max_wrong_credentials_per_ip,
                settings.ip_block_timeout_ms / 1000, prefix=ACCESS_TOKEN_PREFIX,
                name="access token", primary=primary,
            ))

    async def close_limits(self) -> None:
        """Release the connections of the failure limits (Redis)."""
        await self.provisioning.limiter.close()
        await self.claiming.close()
        if self.token_guard is not None:
            await self.token_guard.close()


def rate_limit_defaults(settings: Settings) -> TransportLimits:
    """The server-wide defaults of the tenant profiles' transport rate limits."""
    return TransportLimits.from_texts({
        TENANT_MSG: settings.tenant_msg_rate_limit,
        TENANT_TELEMETRY_MSG: settings.tenant_telemetry_msg_rate_limit,
        TENANT_TELEMETRY_DATA_POINTS: settings.tenant_telemetry_data_points_rate_limit,
        DEVICE_MSG: settings.device_msg_rate_limit,
        DEVICE_TELEMETRY_MSG: settings.device_telemetry_msg_rate_limit,
        DEVICE_TELEMETRY_DATA_POINTS: settings.device_telemetry_data_points_rate_limit,
    })
