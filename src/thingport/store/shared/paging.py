"""Paged listings: which columns a listing searches and sorts by, and the SQL of one page.

A ``Listing`` says what one entity listing may do (ThingsBoard's sort properties, its default,
the searched columns, the tiebreak that keeps pages from repeating or skipping rows) and where
its rows come from (``table``: a FROM clause, ``columns``: a SELECT list that a row mapper of
``rows`` reads). ``page_query`` turns a ``PageLink`` into the count and rows statements for a
dialect's ``SqlStyle``; the caller runs both in one read transaction (same snapshot) and makes
the result with ``to_page``.

The rules both dialects follow (ThingsBoard's on PostgreSQL): a text search is a
case-insensitive "contains" on any searched column; text columns sort case-insensitively; NULLs
come last ascending and first descending; the tiebreak column sorts in the same direction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from thingport.domain.model import Page, PageLink
from thingport.errors import BadRequest
from thingport.store.shared import rows

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing:
    """How one entity table is paged: its columns, sortable properties and searched columns."""

    #: The FROM clause (a table, or a join with aliases).
    table: str
    #: The SELECT list, in the order the listing's row mapper reads.
    columns: str
    #: ThingsBoard's camelCase sort property -> (column, compared as text).
    sort: Mapping[str, tuple[str, bool]]
    default_sort: str
    #: Columns a ``text_search`` looks into.
    search: tuple[str, ...]
    #: The last sort key, unique within a listing, so that pages neither repeat nor skip rows.
    tiebreak: str = "id"
    #: A page that names no sort property is sorted by ``default_sort`` newest first (RPCs,
    #: as ThingsBoard lists them), whatever sort order it names.
    newest_first: bool = False

    def over(self, table: str, columns: str) -> Listing:
        """The same rules over another FROM clause and SELECT list (a dialect's own joins)."""
        return dataclasses.replace(self, table=table, columns=columns)


@dataclass(frozen=True, slots=True)
class SqlStyle:
    """What a dialect writes differently in a page query."""

    #: The n-th parameter's placeholder, n counted from 1: ``?`` (SQLite) or ``$n`` (asyncpg).
    placeholder: Callable[[int], str]
    #: (column, placeholder) -> a condition true when the column contains the needle,
    #: case-insensitively (the needle is passed through ``fold`` first).
    contains: Callable[[str, str], str]
    #: A column -> the expression it is sorted by when compared as text (case-insensitive).
    text_order: Callable[[str], str]
    #: The search text -> the parameter ``contains`` compares with.
    fold: Callable[[str], Any] = str.casefold


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The two statements of one page and their parameters."""

    count_sql: str
    count_params: list[Any]
    rows_sql: str
    rows_params: list[Any]


def page_query(
    listing: Listing, where: Sequence[str], params: Sequence[Any], link: PageLink,
    style: SqlStyle,
) -> PageQuery:
    """The count and rows statements of ``link``'s page of ``listing``.

    ``where`` are conditions ANDed together, written with ``style``'s placeholders for
    ``params`` (numbered from 1); the search, LIMIT and OFFSET parameters follow them.
    BadRequest for a bad page link, sort property or sort order.
    """
    link.check()
    conditions, values = list(where), list(params)
    if link.text_search:
        needle = style.fold(link.text_search)
        tests = []
        for column in listing.search:
            values.append(needle)
            tests.append(style.contains(column, style.placeholder(len(values))))
        conditions.append("(" + " OR ".join(tests) + ")")
    prop = link.sort_property or listing.default_sort
    if prop not in listing.sort:
        raise BadRequest(f"Invalid sort property: {prop}")
    newest = listing.newest_first and link.sort_property is None
    direction = "DESC" if newest else link.sort_order.upper()
    column, is_text = listing.sort[prop]
    key = style.text_order(column) if is_text else column
    # NULLs last when ascending and first when descending, as PostgreSQL (ThingsBoard) does;
    # the tiebreak column (the id) breaks ties so that pages neither repeat nor skip rows.
    order = f"{column} IS NULL {direction}, {key} {direction}, {listing.tiebreak} {direction}"
    where_sql = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    n = len(values)
    return PageQuery(
        count_sql=f"SELECT count(*) FROM {listing.table}{where_sql}",
        count_params=values,
        rows_sql=(
            f"SELECT {listing.columns} FROM {listing.table}{where_sql} ORDER BY {order} "
            f"LIMIT {style.placeholder(n + 1)} OFFSET {style.placeholder(n + 2)}"
        ),
        rows_params=[*values, link.page_size, link.page * link.page_size],
    )


def to_page(
    found: Sequence[Any], total: int, link: PageLink, make: Callable[[Any], T]
) -> Page[T]:
    """The ``Page`` of rows ``found`` (already mapped by ``make``) out of ``total``."""
    return Page(
        data=[make(r) for r in found],
        total_pages=-(-total // link.page_size),
        total_elements=total,
        has_next=(link.page + 1) * link.page_size < total,
    )


# -- the listings ------------------------------------------------------------------------------

_COMMON_SORT: Final = {"createdTime": ("created_time", False), "id": ("id", True)}

TENANTS: Final = Listing(
    "tenant", rows.TENANT_COLUMNS,
    {**_COMMON_SORT, "title": ("title", True), "email": ("email", True)},
    "title", ("title",),
)
TENANT_PROFILES: Final = Listing(
    "tenant_profile", rows.TENANT_PROFILE_COLUMNS,
    {
        **_COMMON_SORT, "name": ("name", True), "description": ("description", True),
        "isDefault": ("is_default", False), "default": ("is_default", False),
    },
    "name", ("name",),
)
CUSTOMERS: Final = Listing(
    "customer", rows.CUSTOMER_COLUMNS,
    {**_COMMON_SORT, "title": ("title", True), "email": ("email", True)},
    "title", ("title",),
)
#: The table is named ``user`` (quote it where the dialect reserves the word).
USERS: Final = Listing(
    "user", rows.USER_COLUMNS,
    {
        **_COMMON_SORT, "email": ("email", True), "firstName": ("first_name", True),
        "lastName": ("last_name", True), "authority": ("authority", True),
    },
    "email", ("email", "first_name", "last_name"),
)
PROFILES: Final = Listing(
    "device_profile", rows.PROFILE_COLUMNS,
    {
        **_COMMON_SORT, "name": ("name", True), "type": ("type", True),
        "transportType": ("transport_type", True), "provisionType": ("provision_type", True),
        "description": ("description", True), "isDefault": ("is_default", False),
        "default": ("is_default", False),
    },
    "name", ("name",),
)
DEVICES: Final = Listing(
    "device", rows.DEVICE_COLUMNS,
    {
        **_COMMON_SORT, "name": ("name", True), "type": ("type", True),
        "label": ("label", True),
    },
    "name", ("name",),
)
#: Devices with their profile's name and customer's title (aliases d, p, c). A dialect adds
#: its own joins of the device state and the two state columns (``rows.device_info`` reads
#: DEVICE_COLUMNS, the profile name, the customer title, active, last activity time) with
#: ``DEVICE_INFOS.over(...)``.
DEVICE_INFOS: Final = Listing(
    "device d JOIN device_profile p ON p.id = d.device_profile_id "
    "LEFT JOIN customer c ON c.id = d.customer_id",
    f"{rows.prefixed(rows.DEVICE_COLUMNS, 'd')}, p.name, c.title",
    {
        "createdTime": ("d.created_time", False), "id": ("d.id", True),
        "name": ("d.name", True), "label": ("d.label", True), "type": ("d.type", True),
        "deviceProfileName": ("p.name", True), "customerTitle": ("c.title", True),
    },
    "createdTime", ("d.name", "d.label", "p.name", "c.title"), tiebreak="d.id",
)
#: Always one device's RPCs, where the request id is unique and follows creation order.
#: Newest first when the caller gives no sort (``find_rpcs``).
RPCS: Final = Listing(
    "rpc", rows.RPC_COLUMNS,
    {
        **_COMMON_SORT, "expirationTime": ("expiration_time", False),
        "requestId": ("request_id", False), "status": ("status", True),
        "method": ("method", True),
    },
    "createdTime", ("method",), tiebreak="request_id", newest_first=True,
)
OTA_PACKAGES: Final = Listing(
    "ota_package", rows.OTA_COLUMNS,
    {
        **_COMMON_SORT, "title": ("title", True), "version": ("version", True),
        "type": ("type", True), "tag": ("tag", True), "url": ("url", True),
        "fileName": ("file_name", True), "contentType": ("content_type", True),
        "dataSize": ("data_size", False), "checksum": ("checksum", True),
        "checksumAlgorithm": ("checksum_algorithm", True),
    },
    "createdTime", ("title",),
)
