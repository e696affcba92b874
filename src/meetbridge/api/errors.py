"""Rendering errors: Cronofy-shaped 422s naming the field, plain ``{error, message}`` otherwise.

No handler lets a traceback, a secret or a driver message reach the client.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from meetbridge.api.schemas import ErrorBody, FieldError, ValidationErrors
from meetbridge.errors import InvalidRequest, RequestError

log = logging.getLogger("meetbridge.api")

_MISSING = re.compile(r"missing required field `([^`]+)`")


def _validation_response(
    errors: dict[str, list[FieldError]], status_code: int = 422
) -> Response[ValidationErrors]:
    return Response(ValidationErrors(errors=errors), status_code=status_code)


def _field_of(key: str | None, message: str) -> tuple[str, str]:
    """Name the top-level field a decoding error is about, and its Cronofy error kind."""
    missing = _MISSING.search(message)
    kind = "required" if missing else "invalid"
    if key and key != "data":
        return key.split(".")[0].split("[")[0], kind
    if missing:
        return missing.group(1), kind
    return "body", kind


def handle_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ValidationErrors]:
    """Litestar's decoding errors (types, required fields, query parameters) in Cronofy's shape."""
    errors: dict[str, list[FieldError]] = {}
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra or [{"message": exc.detail, "key": None}]:
        message = str(item.get("message", exc.detail)) if isinstance(item, dict) else str(item)
        key = item.get("key") if isinstance(item, dict) else None
        field, kind = _field_of(key, message)
        description = f"{key}: {message}" if key and key not in ("data", field) else message
        errors.setdefault(field, []).append(FieldError(key=f"errors.{kind}", description=description))
    return _validation_response(errors)


def handle_invalid(_: Request[Any, Any, Any], exc: InvalidRequest) -> Response[ValidationErrors]:
    return _validation_response(
        {field: [FieldError(key=k, description=d) for k, d in items] for field, items in exc.errors.items()},
        exc.status_code,
    )


def handle_request_error(_: Request[Any, Any, Any], exc: RequestError) -> Response[ErrorBody]:
    return Response(ErrorBody(error=exc.code, message=str(exc)), status_code=exc.status_code)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == 400 and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        # Litestar answers 400 for a body that is not JSON at all; Cronofy's contract is a 422.
        return _validation_response(
            {
                "body": [
                    FieldError(key="errors.invalid", description=f"the body is not valid JSON: {exc.detail}")
                ]
            }
        )
    code = (
        "not_found"
        if isinstance(exc, NotFoundException)
        else re.sub(r"\W+", "_", exc.detail.lower()).strip("_")
    )
    return Response(
        ErrorBody(error=code or "error", message=exc.detail), status_code=exc.status_code, headers=exc.headers
    )


def handle_too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[ValidationErrors]:
    # The JSON decoder recursing through nesting no event has: the client's mistake, not ours.
    return _validation_response(
        {"body": [FieldError(key="errors.invalid", description="the body is nested too deeply")]}
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        ErrorBody(
            error="internal_error", message="meetbridge failed to handle this request; see the server log"
        ),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ValidationException: handle_validation,
    InvalidRequest: handle_invalid,
    RequestError: handle_request_error,
    HTTPException: handle_http,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected,
}
