"""What every stand-in shares: the injectable clock, fault injection and the call log, outbound
deliveries (Recall webhooks, Cronofy pushes), the admin routes built on them (faults, calls, clock,
reset), and the Google and Microsoft OAuth stand-ins."""

from meetbridge.sandbox._shared.admin import ClockIn, ClockOut, admin_routes, reset_route
from meetbridge.sandbox._shared.clock import SandboxClock, Ticker
from meetbridge.sandbox._shared.delivery import DeliveryQueue, DeliveryRecord
from meetbridge.sandbox._shared.faults import CallLog, CallRecord, Fault, FaultBook, FaultError, FaultIn
from meetbridge.sandbox._shared.http import AnyRequest, query_params
from meetbridge.sandbox._shared.oauth import DEFAULT_EMAIL, OAUTH_HANDLERS, OAuthError, OAuthStandIn
from meetbridge.sandbox._shared.tasks import BackgroundTask, stop_task

__all__ = [
    "DEFAULT_EMAIL",
    "OAUTH_HANDLERS",
    "AnyRequest",
    "BackgroundTask",
    "CallLog",
    "CallRecord",
    "ClockIn",
    "ClockOut",
    "DeliveryQueue",
    "DeliveryRecord",
    "Fault",
    "FaultBook",
    "FaultError",
    "FaultIn",
    "OAuthError",
    "OAuthStandIn",
    "SandboxClock",
    "Ticker",
    "admin_routes",
    "query_params",
    "reset_route",
    "stop_task",
]
