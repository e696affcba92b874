"""Reading a link request body with the shape of the profile's adapter.

The shape is known only once the path's profile is: the handler reads the body itself. A field of
another adapter's shape is named as not applicable (so the app sees which adapter it talks to), an
unknown field as unknown, every one of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from meetbridge.config.profiles import Profile
from meetbridge.errors import InvalidRequest
from meetbridge.providers.link_requests import LinkAsk, LinkRequest

_AT = re.compile(r" - at `\$\.?([^`]*)`$")


def read_link_request(body: bytes, profile: Profile, shapes: Mapping[str, type[LinkRequest]]) -> LinkAsk:
    """``body`` read with ``shapes[profile.adapter]`` (``shapes``: every linking adapter's)."""
    shape = shapes.get(profile.adapter)
    if shape is None:  # calendar_profile let through a profile that links but declares no shape
        raise TypeError(f"adapter {profile.adapter} links calendars but declares no link_request")
    try:
        given = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest.single("body", "invalid", f"the body is not valid JSON: {exc}") from None
    if not isinstance(given, dict):
        raise InvalidRequest.single("body", "invalid", "the body must be a JSON object")
    others = {field for other in shapes.values() if other is not shape for field in other.__struct_fields__}
    errors: dict[str, list[tuple[str, str]]] = {}
    for name in given:
        if name in shape.__struct_fields__:
            continue
        if name in others:
            description = f"not used by {profile.adapter} links (profile {profile.profile_id})"
            errors[name] = [("errors.not_applicable", description)]
        else:
            fields = ", ".join(shape.__struct_fields__)
            errors[name] = [("errors.invalid", f"unknown field; {profile.adapter} links take {fields}")]
    if errors:
        raise InvalidRequest(errors)
    try:
        request = msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        message = str(exc)
        at = _AT.search(message)
        field = re.split(r"[.\[]", at.group(1))[0] if at and at.group(1) else "body"
        kind = "required" if message.startswith("Object missing required field") else "invalid"
        raise InvalidRequest.single(field, kind, message) from None
    return request.ask()
