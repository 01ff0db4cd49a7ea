"""What an HTTP handler declares about itself for the OpenAPI document (``api/openapi.py``):
its summary, query parameters, request body and answers, written next to the handler with
``@operation(...)``. Both HTTP faces (the REST API and the device API) use it.

Undeclared, a handler is documented from what is known anyway: its route (path, path
parameters, methods), its docstring's first paragraph as the summary, a JSON object as the body
of a POST or PUT, and 200 as the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``@operation`` keeps its declaration on the handler.
ATTRIBUTE = "openapi_operation"


@dataclass(frozen=True)
class Param:
    """A query parameter: ``type`` is a JSON Schema type, ``enum`` its only values."""

    name: str
    required: bool = False
    type: str = "string"
    description: str = ""
    enum: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        """Its JSON Schema."""
        schema: dict[str, Any] = {"type": self.type}
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema


@dataclass(frozen=True)
class Body:
    """A request body of one media type."""

    media_type: str = "application/json"
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    required: bool = True
    description: str = ""


#: A JSON object, required: what a POST or PUT takes unless it declares otherwise.
JSON_OBJECT = Body()
#: Any JSON value (an object or an array, for instance).
JSON_ANY = Body(schema={})
#: Declared by a POST that reads no body.
NO_BODY = Body(media_type="")

#: ThingsBoard's paging parameters (read by ``api.common.page_link``), which every paged
#: handler declares: ``query=(*PAGE, ...)``.
PAGE: tuple[Param, ...] = (
    Param("pageSize", True, "integer", "Items per page, at least 1"),
    Param("page", True, "integer", "The page, from 0"),
    Param("textSearch", description="Only items whose name contains this (any case)"),
    Param("sortProperty", description="The property to sort by"),
    Param("sortOrder", description="The sort order (default ASC)", enum=("ASC", "DESC")),
)

#: The parameter of every long poll (the device API's and the REST API's client-side RPC).
POLL_TIMEOUT = Param("timeout", type="integer",
                     description="How long to wait, in ms (absent or 0: HTTP_REQUEST_TIMEOUT)")


@dataclass(frozen=True)
class Operation:
    """What a handler declares. ``body`` None means the method's default (a JSON object for
    POST and PUT, none otherwise); ``responses`` maps statuses to what they mean, beside 200;
    ``public`` operations need no ``X-Authorization``."""

    summary: str | None = None
    query: tuple[Param, ...] = ()
    body: Body | None = None
    responses: Mapping[int, str] = field(default_factory=dict)
    public: bool = False


def operation(*, summary: str | None = None, query: Iterable[Param] = (),
              body: Body | None = None, responses: Mapping[int, str] | None = None,
              public: bool = False) -> Callable[[F], F]:
    """Declare the handler's operation for the OpenAPI document (see ``Operation``)."""
    declared = Operation(summary, tuple(query), body, dict(responses or {}), public)

    def declare(handler: F) -> F:
        setattr(handler, ATTRIBUTE, declared)
        return handler

    return declare


def declared(handler: Callable[..., Any]) -> Operation:
    """The handler's declaration (of the function behind a bound method too); an empty one
    when it has none."""
    found = getattr(handler, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else Operation()
