"""The ``thingport`` command: ``serve`` (the default) and device, tenant and user commands."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any, NoReturn, cast

import click

from thingport.domain.model import Authority
from thingport.errors import ConfigError, ThingportError
from thingport.services import Services
from thingport.settings import SETTINGS, Setting, Settings
from thingport.settings.doc import help_line

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


def setting_option(row: Setting) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The option of one setting, named after it, documented with its variable and default;
    its value is parsed by `load_settings`, as the variable's is."""
    return click.option(row.option, row.name, default=None, type=str, metavar=row.env,
                        help=help_line(row))


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One option per setting (the ``SSL_*`` ones too)."""
    for row in reversed(SETTINGS):
        func = setting_option(row)(func)
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
            raise ConfigError(f"{setting.option}: {exc}") from None
    return Settings.from_env(**parsed)


def fail(message: str) -> NoReturn:
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
    """Every waiting long poll holds a socket: allow as many as the system lets us (the
    server's start then says how many that is, ``server.http_limits``)."""
    from thingport.http.limits import raise_open_files_limit as raise_limit

    raise_limit()


# -- commands that work on the store directly ----------------------------------------------------
store_options = [setting_option(row) for row in SETTINGS
                 if row.name in ("data_dir", "database_url")]


def with_store(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(store_options):
        func = option(func)
    return func


def run_command(options: dict[str, Any], command: str, **args: Any) -> Any:
    """Run one of ``admin.commands`` on the store the options name: in the server that has
    it open, if one has (so that its caches and polls see the change), else here. Only
    ``serve`` creates a store: without one, this says where it looked and exits."""
    from thingport.admin import socket_path
    from thingport.admin.client import call
    from thingport.admin.commands import COMMANDS
    from thingport.bus import bus_from_url
    from thingport.store import sqlite_path, store_from_url
    from thingport.store.shared.errors import StoreMissing
    from thingport.store.sqlite.lock import StoreInUse

    settings = load_settings(
        {"data_dir": options.get("data_dir"), "database_url": options.get("database_url")}
    )
    database = sqlite_path(settings.store_url)
    if database is not None and not os.path.exists(database):
        fail(missing_store_message(settings, database))
    holder = "thingport " + command.replace(".", " ")

    async def main() -> Any:
        store = store_from_url(settings.store_url, settings, holder=holder)
        # The CLI signs no tokens, so it needs no JWT key (and must not create one).
        services = Services.build(store, bus_from_url(settings.redis_url), settings,
                                  settings.jwt_signing_key or secrets.token_urlsafe(32))
        await store.open(create=False)
        try:
            return await COMMANDS[command](services, **args)
        finally:
            await services.auth.close()
            await store.close()

    try:
        try:
            return asyncio.run(main())
        except StoreInUse:
            control = socket_path(cast(str, database))
            if not os.path.exists(control):
                raise
            return call(control, command, args)
    except StoreMissing as exc:
        fail(f"{exc.message}; only `thingport serve` creates one")
    except ThingportError as exc:
        fail(exc.message)


def missing_store_message(settings: Settings, database: str) -> str:
    """Where a command looked for a SQLite store that is not there."""
    if settings.database_url:
        source = "from THINGPORT_DATABASE_URL"
    else:
        source = f"in the data directory {settings.data_dir!r}, from {os.getcwd()}"
    return (f"there is no store at {os.path.abspath(database)} ({source}); only `thingport "
            "serve` creates one: run this command where the server runs, or give --data-dir "
            "(THINGPORT_DATA_DIR) of its store")


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
    click.echo(run_command(options, "device.create", name=name, token=token,
                           device_type=device_type, tenant=tenant))


@device.command("list")
@click.option("--tenant", default=None, help="Tenant title or id (default: every tenant).")
@with_store
def device_list(tenant: str | None, **options: Any) -> None:
    """List devices, a line each: tenant, name, type, id and access token (tab-separated)."""
    for row in run_command(options, "device.list", tenant=tenant):
        click.echo("\t".join(row))


@device.command("token")
@click.argument("name")
@tenant_option
@with_store
def device_token(name: str, tenant: str | None, **options: Any) -> None:
    """Print a device's access token."""
    click.echo(run_command(options, "device.token", name=name, tenant=tenant))


@cli.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("title")
@with_store
def tenant_create(title: str, **options: Any) -> None:
    """Create a tenant and print its id."""
    click.echo(run_command(options, "tenant.create", title=title))


@tenant.command("list")
@with_store
def tenant_list(**options: Any) -> None:
    """List tenants: title and id."""
    for row in run_command(options, "tenant.list"):
        click.echo("\t".join(row))


@cli.group()
def user() -> None:
    """Create users, reset their passwords, unlock their accounts."""


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
    click.echo(run_command(options, "user.create", email=email, password=password,
                           authority=authority, tenant=tenant))


@user.command("password")
@click.argument("email")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True,
              help="The new password (asked for when not given).")
@with_store
def user_password(email: str, password: str, **options: Any) -> None:
    """Reset a user's (lost) password; this also unlocks the account."""
    run_command(options, "user.password", email=email, password=password)
    click.echo(f"new password set for {email}")


@user.command("unlock")
@click.argument("email")
@with_store
def user_unlock(email: str, **options: Any) -> None:
    """Unlock an account locked by failed logins (or disabled by an administrator)."""
    run_command(options, "user.unlock", email=email)
    click.echo(f"{email} is unlocked")


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
        source = store_from_url(source_url, holder="thingport migrate")
        target = store_from_url(target_url, holder="thingport migrate")
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
