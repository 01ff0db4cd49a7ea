"""The ``thingport`` command: ``serve`` (the default) and device, tenant and user commands."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import click

from thingport.domain.model import Authority, PageLink, Tenant
from thingport.errors import ConfigError, ThingportError
from thingport.services import Services
from thingport.settings import SETTINGS, Settings

T = TypeVar("T")


#: Options of ``thingport`` itself; any other leading option is one of ``serve``'s.
GROUP_OPTIONS = ("--help", "-h", "--version")


class DefaultGroup(click.Group):
    """A group that runs ``serve`` when no command is named (``thingport``, ``thingport
    --port 9090``). A word that names no command is an error, not a ``serve`` argument: a
    mistyped ``thingport devcie list`` must not start a server."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in GROUP_OPTIONS):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="thingport")
def cli() -> None:
    """thingport: a server for ThingsBoard's HTTP Device API."""


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One option per setting, named after it, documented with its environment variable."""
    for setting in reversed(SETTINGS):
        option = "--" + setting.name.replace("_", "-")
        default = setting.default if setting.default is not None else "-"
        func = click.option(
            option, setting.name, default=None, type=str, metavar=setting.env,
            help=f"{setting.help} [env {setting.env}; default {default}]",
        )(func)
    return func


def load_settings(options: dict[str, Any]) -> Settings:
    """Settings from the environment with command-line options on top, parsed alike."""
    parsed: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = options.get(setting.name)
        if raw is None:
            continue
        try:
            parsed[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"--{setting.name.replace('_', '-')}: {exc}") from None
    return Settings.from_env(**parsed)


def fail(message: str) -> None:
    click.echo(f"thingport: {message}", err=True)
    sys.exit(2)


@cli.command()
@setting_options
def serve(**options: Any) -> None:
    """Run the server (the default command)."""
    try:
        settings = load_settings(options)
        from thingport.server import run

        raise_open_files_limit()
        run(settings)
    except ConfigError as exc:
        fail(exc.message)


def raise_open_files_limit() -> None:
    """Every waiting long poll holds a socket: allow as many as the system lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- commands that work on the store directly ----------------------------------------------------
store_options = [
    click.option("--data-dir", "data_dir", default=None, metavar="THINGPORT_DATA_DIR",
                 help="Data directory [env THINGPORT_DATA_DIR]."),
    click.option("--database-url", "database_url", default=None,
                 metavar="THINGPORT_DATABASE_URL", help="Store URL [env THINGPORT_DATABASE_URL]."),
]


def with_store(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(store_options):
        func = option(func)
    return func


def run_with_services(options: dict[str, Any], work: Callable[[Services], Awaitable[T]]) -> T:
    """Open the store, create the first administrators if it is empty, run ``work``."""
    from thingport.app import announce, bootstrap, build_services

    settings = load_settings(
        {"data_dir": options.get("data_dir"), "database_url": options.get("database_url")}
    )

    async def main() -> T:
        services = build_services(settings)
        await services.store.open()
        try:
            announce(await bootstrap(services, settings))
            return await work(services)
        finally:
            await services.store.close()

    try:
        return asyncio.run(main())
    except ThingportError as exc:
        fail(exc.message)
        raise  # unreachable: fail() exits


async def find_tenant(services: Services, tenant: str | None) -> Tenant:
    """The tenant named by title or id, or the default (oldest) tenant."""
    if tenant is None:
        return await services.users.default_tenant()
    try:
        return await services.users.get_tenant(UUID(tenant))
    except ValueError:
        pass
    page_link = PageLink(1000, 0, text_search=tenant)
    for candidate in (await services.users.find_tenants(page_link)).data:
        if candidate.title == tenant:
            return candidate
    raise ThingportError(f"no tenant titled {tenant!r}")


tenant_option = click.option("--tenant", default=None,
                             help="Tenant title or id (default: the first tenant).")


@cli.group()
def device() -> None:
    """Create devices and read their access tokens."""


@device.command("create")
@click.argument("name")
@click.option("--token", default=None, help="Access token to use (default: 20 random characters).")
@click.option("--type", "device_type", default=None, help="Device profile name (default: default).")
@tenant_option
@with_store
def device_create(name: str, token: str | None, device_type: str | None, tenant: str | None,
                  **options: Any) -> None:
    """Create a device and print its access token."""
    async def work(services: Services) -> str:
        owner = await find_tenant(services, tenant)
        _, credentials = await services.devices.create(
            owner.id, name, type=device_type, access_token=token
        )
        return credentials.credentials_id

    click.echo(run_with_services(options, work))


@device.command("list")
@tenant_option
@with_store
def device_list(tenant: str | None, **options: Any) -> None:
    """List devices: name, type, id and access token."""
    async def work(services: Services) -> list[tuple[str, str, str, str]]:
        owner = await find_tenant(services, tenant)
        rows = []
        for d in sorted(await services.devices.find_all(owner.id), key=lambda d: d.name):
            credentials = await services.devices.get_credentials(owner.id, d.id)
            rows.append((d.name, d.type, str(d.id), credentials.credentials_id))
        return rows

    for name, kind, device_id, token in run_with_services(options, work):
        click.echo(f"{name}\t{kind}\t{device_id}\t{token}")


@device.command("token")
@click.argument("name")
@tenant_option
@with_store
def device_token(name: str, tenant: str | None, **options: Any) -> None:
    """Print a device's access token."""
    async def work(services: Services) -> str:
        owner = await find_tenant(services, tenant)
        found = await services.devices.get_by_name(owner.id, name)
        return (await services.devices.get_credentials(owner.id, found.id)).credentials_id

    click.echo(run_with_services(options, work))


@cli.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("title")
@with_store
def tenant_create(title: str, **options: Any) -> None:
    """Create a tenant and print its id."""
    async def work(services: Services) -> UUID:
        return (await services.users.create_tenant(title)).id

    click.echo(run_with_services(options, work))


@tenant.command("list")
@with_store
def tenant_list(**options: Any) -> None:
    """List tenants: title and id."""
    async def work(services: Services) -> list[Tenant]:
        return (await services.users.find_tenants(PageLink(10000, 0, sort_property="title"))).data

    for t in run_with_services(options, work):
        click.echo(f"{t.title}\t{t.id}")


@cli.group()
def user() -> None:
    """Create users."""


@user.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The user's password (asked for when not given).")
@click.option("--authority",
              type=click.Choice([Authority.TENANT_ADMIN.value, Authority.SYS_ADMIN.value]),
              default=Authority.TENANT_ADMIN.value, show_default=True)
@tenant_option
@with_store
def user_create(email: str, password: str, authority: str, tenant: str | None,
                **options: Any) -> None:
    """Create a user (a tenant administrator by default) and print its id."""
    async def work(services: Services) -> UUID:
        role = Authority(authority)
        if role is Authority.SYS_ADMIN:
            created, _ = await services.users.create_user(
                None, None, email, role, password=password
            )
        else:
            owner = await find_tenant(services, tenant)
            created, _ = await services.users.create_user(owner.id, None, email, role,
                                                          password=password)
        return created.id

    click.echo(run_with_services(options, work))


class BarProgress:
    """The migration's stages as click progress bars, on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None

    def begin(self, label: str, total: int) -> None:
        """Draw a bar for a stage of ``total`` steps."""
        self._bar = click.progressbar(length=total, label=f"{label:<26}", file=sys.stderr,
                                      show_pos=True)
        self._bar.__enter__()

    def advance(self, steps: int = 1) -> None:
        """Move the bar on."""
        self._bar.update(steps)

    def end(self) -> None:
        """Finish the bar."""
        self._bar.__exit__(None, None, None)
        self._bar = None


@cli.command()
@click.option("--from", "source_url", required=True, metavar="URL",
              help="The store to copy, e.g. sqlite:///var/lib/thingport/thingport.db.")
@click.option("--to", "target_url", required=True, metavar="URL",
              help="The store to fill, e.g. postgresql://thingport@db.example/thingport "
                   "(or another sqlite:///...).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Time-series points per read and write [default 5000].")
@click.option("--verify-only", is_flag=True,
              help="Copy nothing; only compare what both stores hold.")
def migrate(source_url: str, target_url: str, batch_size: int | None,
            verify_only: bool) -> None:
    """Copy a whole install into another store (SQLite to PostgreSQL), then compare the counts
    of every kind in both; exits 1 when they differ. Stop the server first. Safe to rerun: a
    rerun goes on where an interrupted one stopped."""
    from pathlib import Path

    from thingport.services.migration import BATCH_SIZE, Migration, MigrationReport
    from thingport.services.store_counts import Verification
    from thingport.store import store_from_url

    if source_url == target_url:
        fail("--from and --to name the same store")
    if source_url.startswith("sqlite:///") and not Path(source_url[10:]).is_file():
        fail(f"--from: no such SQLite file: {source_url[10:]}")
    if target_url.startswith("sqlite:///"):
        Path(target_url[10:]).parent.mkdir(parents=True, exist_ok=True)

    async def main() -> tuple[MigrationReport | None, Verification]:
        source, target = store_from_url(source_url), store_from_url(target_url)
        await source.open()
        try:
            await target.open()
            try:
                migration = Migration(source, target, batch_size=batch_size or BATCH_SIZE,
                                      progress=BarProgress())
                report = None if verify_only else await migration.run()
                return report, await migration.verify()
            finally:
                await target.close()
        finally:
            await source.close()

    try:
        report, verification = asyncio.run(main())
    except ThingportError as exc:
        fail(exc.message)
        return
    if report is not None and report.keys_already_complete:
        click.echo(f"{report.keys_already_complete} time-series keys were complete in the "
                   "target already (an earlier run) and were skipped", err=True)
    if report is not None and report.renumbered_rpcs:
        click.echo(f"warning: {report.renumbered_rpcs} RPCs got other request ids in the target",
                   err=True)
    click.echo(f"{'':<20}{'source':>14}{'target':>14}")
    for kind, in_source, in_target in verification.rows():
        mark = "" if in_source == in_target else "  MISMATCH"
        click.echo(f"{kind:<20}{in_source:>14}{in_target:>14}{mark}")
    if verification.mismatches:
        click.echo(f"thingport: the target differs from the source in: "
                   f"{', '.join(verification.mismatches)}", err=True)
        sys.exit(1)
    click.echo("the target holds everything the source does")


def main() -> None:
    """Console-script entry point."""
    cli()
