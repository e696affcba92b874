"""Finishing touches on the generated OpenAPI document, so generated clients see what we answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    RequestBody,
    Schema,
)

_ERROR = OpenAPIResponse(
    description="",
    content={"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorBody"))},
)


def finish_schema(schema: OpenAPI) -> None:
    """Drop Litestar's default 400 (we answer 422 in Cronofy's shape) and document 401/404."""
    for path, item in (schema.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method)
            if operation is None or operation.responses is None:
                continue
            operation.responses.pop("400", None)
            if path.startswith("/v1/"):
                operation.responses.setdefault(
                    "401",
                    OpenAPIResponse(description="Missing or invalid bearer token", content=_ERROR.content),
                )
            if "{" in path:
                operation.responses.setdefault(
                    "404",
                    OpenAPIResponse(
                        description="No such resource for this application", content=_ERROR.content
                    ),
                )


LINK_PATH = "/v1/calendars/{calendar_id}/links/{profile_id}"
_NAMED_MAPS = {"properties", "$defs"}  # their keys are names, not schema keywords


def _spec(value: Any) -> Any:
    """msgspec's JSON Schema as Litestar's OpenAPI objects (keywords to their snake_case fields)."""
    if isinstance(value, list):
        return [_spec(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$ref" in value:
        return Reference(ref=value["$ref"])
    fields: dict[str, Any] = {}
    for key, item in value.items():
        name = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
        fields[name] = {k: _spec(v) for k, v in item.items()} if key in _NAMED_MAPS else _spec(item)
    return Schema(**fields)


def document_link_requests(schema: OpenAPI, link_requests: Mapping[str, type[Any]]) -> None:
    """The link request body is the profile's adapter's own shape: list each one (they are decoded by
    the handler, which only learns the adapter from the path)."""
    operation = schema.paths[LINK_PATH].put if schema.paths and LINK_PATH in schema.paths else None
    if operation is None or not link_requests:
        return
    names = sorted(link_requests)
    refs, components = msgspec.json.schema_components(
        [link_requests[name] for name in names], ref_template="#/components/schemas/{name}"
    )
    if schema.components.schemas is None:
        schema.components.schemas = {}
    schema.components.schemas.update({name: _spec(body) for name, body in components.items()})
    shapes = ", ".join(
        f"{name}: {ref['$ref'].rpartition('/')[2]}" for name, ref in zip(names, refs, strict=True)
    )
    operation.request_body = RequestBody(
        required=True,
        description=f"The shape of the profile's adapter ({shapes}); another adapter's field is a 422.",
        content={"application/json": OpenAPIMediaType(schema=Schema(any_of=[_spec(ref) for ref in refs]))},
    )
