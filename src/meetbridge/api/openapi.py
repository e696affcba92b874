"""Finishing touches on the generated OpenAPI document, so generated clients see what we answer."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Reference

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
