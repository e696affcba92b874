"""What the Structs alone cannot tell the OpenAPI document, so that generated clients and fuzzers agree
with the server: which fields a request needs together, the forms of times and zones, every status an
operation can answer, and where the ids the calendar routes need come from (OpenAPI links).

Field types, lengths and enums stay on the Structs and route declarations; this adds only what spans
several fields or every operation.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import replace

from litestar.openapi.spec import (
    Link,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from meetbridge.api.link_schemas import DisconnectRequest
from meetbridge.domain.times import EARLIEST, LATEST

# Not a JSON Schema format: an IANA zone name such as Europe/Berlin (zone folders such as America are
# not zones). Tools that do not know the name treat the value as a string.
ZONE_FORMAT = "iana-time-zone"
# Not a JSON Schema format either: YYYY-MM-DD (a date: all-day), or an ISO 8601 time with Z or an
# offset, or without one (local to the event's tzid), which RFC 3339's date-time does not allow.
# Generated clients keep these as strings.
TIME_FORMAT = "event-time"
_RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()} (UTC)"
_METHODS = ("get", "put", "post", "delete", "patch")
_ERROR = {"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorBody"))}
_INVALID = {
    "application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ValidationErrors"))
}


def _zone(description: str = "An IANA time zone, such as Europe/Berlin") -> Schema:
    return Schema(type=OpenAPIType.STRING, format=ZONE_FORMAT, max_length=64, description=description)  # type: ignore[arg-type]  # an open format name


def _event_time(description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, format=TIME_FORMAT, max_length=64, description=description)  # type: ignore[arg-type]  # an open format name


def _operations(schema: OpenAPI) -> list[tuple[str, str, Operation]]:
    found = []
    for path, item in (schema.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method)
            if operation is not None:
                found.append((path, method, operation))
    return found


def document_statuses(schema: OpenAPI) -> None:
    """Every /v1 operation that reads a body can answer 413 (over MEETBRIDGE_MAX_BODY_BYTES) and 422
    (not JSON, nested too deeply); one that reads query parameters can answer 422."""
    for path, _, operation in _operations(schema):
        if not path.startswith("/v1/") or operation.responses is None:
            continue
        queries = any(
            not isinstance(parameter, Reference) and parameter.param_in == "query"
            for parameter in operation.parameters or []
        )
        if operation.request_body is not None:
            operation.responses.setdefault(
                "413", OpenAPIResponse(description="The body is over the configured limit", content=_ERROR)
            )
        if operation.request_body is not None or queries:
            operation.responses.setdefault(
                "422", OpenAPIResponse(description="Invalid parameters, naming the field", content=_INVALID)
            )


def document_times(schema: OpenAPI) -> None:
    """Times are dates or RFC 3339 times in the supported range, zones are IANA names."""
    components = schema.components.schemas or {}
    within = f"A date (all-day) or a time {_RANGE}; a time without an offset is local to tzid"
    time_object = components.get("EventTimeObject")
    if isinstance(time_object, Schema) and time_object.properties:
        time_object.properties["time"] = _event_time(within)
        time_object.properties["tzid"] = _zone()
    upsert = components.get("EventUpsert")
    if isinstance(upsert, Schema) and upsert.properties:
        for name in ("start", "end"):
            upsert.properties[name] = Schema(
                one_of=[_event_time(within), Reference(ref="#/components/schemas/EventTimeObject")],
                description="A date, a time, or a time with its zone; end is not before start",
            )
        upsert.properties["tzid"] = _zone("The event's zone (IANA), for times without an offset")
    read = schema.paths.get("/v1/events") if schema.paths else None
    for parameter in (read.get.parameters or []) if read and read.get else []:
        if isinstance(parameter, Reference):
            continue
        if parameter.name == "tzid":
            parameter.schema = replace(_zone(), default="Etc/UTC")
        elif parameter.name in ("from", "to", "last_modified"):
            parameter.schema = _event_time(f"A date (midnight in tzid) or a time {_RANGE}")


def document_conferencing(schema: OpenAPI) -> None:
    """A join URL is an http(s) URL (or empty), and profile_id "explicit" needs one."""
    conferencing = (schema.components.schemas or {}).get("ConferencingUpdate")
    if not isinstance(conferencing, Schema) or not conferencing.properties:
        return
    conferencing.properties["join_url"] = Schema(
        one_of=[
            Schema(type=OpenAPIType.STRING, max_length=2048, pattern="^([Hh][Tt][Tt][Pp][Ss]?://|$)"),
            Schema(type=OpenAPIType.NULL),
        ],
        description="The meeting link: an http(s) URL",
    )
    # if/then rather than anyOf at the top: client generators read an anyOf there as two models.
    conferencing.schema_if = Schema(
        properties={"profile_id": Schema(const="explicit")}, required=["profile_id"]
    )
    conferencing.then = Schema(
        required=["join_url"], properties={"join_url": Schema(type=OpenAPIType.STRING, min_length=1)}
    )
    conferencing.description = 'profile_id "explicit" comes with its join_url'


def document_required_fields(schema: OpenAPI) -> None:
    """An upsert is either your event (event_id, with summary, start and end) or an external event
    (event_uid, with extensions only); a delete names exactly one of event_id and event_uid."""
    components = schema.components.schemas
    if components is None or not isinstance(upsert := components.get("EventUpsert"), Schema):
        return
    properties = dict(upsert.properties or {})
    managed = {name: value for name, value in properties.items() if name != "event_uid"}
    # Your event keeps the name EventUpsert: generated clients' model stays what it was.
    components["EventUpsert"] = Schema(
        type=OpenAPIType.OBJECT,
        properties=managed,
        required=["event_id", "summary", "start", "end"],
        schema_not=Schema(required=["event_uid"]),
        examples=[
            {
                "event_id": "demo-1",
                "summary": "Demo meeting",
                "start": "2030-01-07T16:00:00Z",
                "end": "2030-01-07T17:00:00Z",
                "conferencing": {"profile_id": "explicit", "join_url": "https://zoom.us/j/1234567890"},
                "extensions": [{"provider": "recall", "profile_id": "none"}],
            }
        ],
        description=(
            "Your event, by event_id. Omitted fields keep their stored values, so an update of an "
            "existing event may leave out summary, start and end; null clears an optional field."
        ),
        title="EventUpsert",
    )
    read_only = sorted(name for name in properties if name not in ("event_uid", "extensions"))
    components["ExternalEventUpsert"] = Schema(
        type=OpenAPIType.OBJECT,
        properties={name: deepcopy(properties[name]) for name in ("event_uid", "extensions")},
        required=["event_uid"],
        schema_not=Schema(any_of=[Schema(required=[name]) for name in read_only]),
        description="An external event (a linked calendar's), by event_uid: only extensions can be set.",
        title="ExternalEventUpsert",
    )
    upsert_operation = _operation(schema, "/v1/calendars/{calendar_id}/events", "post")
    body = upsert_operation.request_body if upsert_operation is not None else None
    if isinstance(body, RequestBody):
        body.content["application/json"].schema = Schema(
            one_of=[
                Reference(ref="#/components/schemas/EventUpsert"),
                Reference(ref="#/components/schemas/ExternalEventUpsert"),
            ]
        )
    delete = components.get("EventDelete")
    if isinstance(delete, Schema):
        # Not oneOf at the top (client generators read it as two models): without event_id it
        # needs event_uid, and with event_id it must not have event_uid.
        delete.schema_if = Schema(schema_not=Schema(required=["event_id"]))
        delete.then = Schema(required=["event_uid"])
        delete.dependent_schemas = {"event_id": Schema(schema_not=Schema(required=["event_uid"]))}
        delete.description = "Exactly one of event_id (your event) and event_uid (an external event)"
        delete.examples = [{"event_id": "demo-1"}]
    create = components.get("CalendarCreate")
    if isinstance(create, Schema):
        create.examples = [{"name": "Sales meetings"}]


def _operation(schema: OpenAPI, path: str, method: str) -> Operation | None:
    item: PathItem | None = (schema.paths or {}).get(path)
    return getattr(item, method) if item is not None else None


def link_calendar_routes(schema: OpenAPI) -> None:
    """OpenAPI links from a created calendar to the routes that take only its calendar_id."""
    create = _operation(schema, "/v1/calendars", "post")
    if create is None or create.responses is None:
        return
    created = create.responses.get("200")
    if not isinstance(created, OpenAPIResponse):
        return
    links: dict[str, Link | Reference] = {}
    for path, method, operation in _operations(schema):
        # Only routes the calendar alone names: a sub-resource (a link, an event) needs making first.
        if path.count("{") == 1 and "{calendar_id}" in path and operation.operation_id:
            links[f"{operation.operation_id}"] = Link(
                operation_id=operation.operation_id,
                parameters={"calendar_id": "$response.body#/calendar/calendar_id"},
                description=f"{method.upper()} {path} on the calendar just created",
            )
    created.links = links or None


def forbid_unknown_fields(schema: OpenAPI) -> None:
    """Request Structs that refuse unknown fields say so (Litestar leaves additionalProperties out)."""
    components = schema.components.schemas or {}
    for struct in (DisconnectRequest,):
        component = components.get(struct.__name__)
        if isinstance(component, Schema) and struct.__struct_config__.forbid_unknown_fields:
            component.additional_properties = False


def tell_the_truth(schema: OpenAPI) -> None:
    forbid_unknown_fields(schema)
    document_times(schema)
    document_conferencing(schema)
    document_required_fields(schema)
    document_statuses(schema)
    link_calendar_routes(schema)
