"""The fuzz run: schemathesis over the committed openapi/openapi.json against a live `meetbridge serve
--sandbox` process, over real HTTP with a valid token and a calendar it created.

Every /v1 operation the document has, in the examples, coverage, fuzzing and stateful phases, with
every check schemathesis has; it must end with no failure at all (no server error, no answer outside
the document, no schema-valid request refused, no missing required header accepted...), at least
1,000 generated cases, and no traceback in the server's log. Seeded and printed; a failure prints
schemathesis' report with each failing case's curl. A deeper run (README, "Limits and security"):
MEETBRIDGE_FUZZ_EXAMPLES=300 MEETBRIDGE_FUZZ_SEED=<any> \
    .venv/bin/python -m pytest tests/e2e/test_fuzz_openapi.py -s
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "openapi.json"
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
SEED = int(os.environ.get("MEETBRIDGE_FUZZ_SEED", "20261207"))
# Cases per operation and phase: 14 makes about 1,400 cases in all over the 27 /v1 operations
# (20 made 1,927, in 10 minutes on a loaded 2-core machine).
EXAMPLES = int(os.environ.get("MEETBRIDGE_FUZZ_EXAMPLES", "14"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)


def fuzz_config(calendar_id: str) -> str:
    """Every check, the calendar as every calendar_id (the stateful phase also follows the document's
    links from POST /v1/calendars). A link request names provider objects (a Recall calendar, a
    user's Cronofy tokens) that must exist at the provider: no document can list them, so a
    schema-valid one may still be refused there (422 naming the field) and that check is off for
    link_calendar alone. An upsert of an event that exists may leave out summary, start and end (they
    keep their stored values), which the document requires as a new event needs them: so a body
    without them can be accepted, and negative_data_rejection is off for upsert_event alone. A
    deleted event stays readable, marked ``deleted`` (Cronofy's soft delete, which shows the app its
    bot was cancelled), so use_after_free is off for the single-event reads."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return (
        # With the calendar fixed, a route whose only other input is one path segment has few
        # distinct invalid cases; that is the route's shape, not a generator problem.
        'suppress-health-check = ["filter_too_much"]\n\n'
        f"[checks]\n{checks}\n\n"
        f'[parameters]\n"path.calendar_id" = "{calendar_id}"\n\n'
        '[[operations]]\ninclude-operation-id = "link_calendar"\n'
        "checks.positive_data_acceptance.enabled = false\n\n"
        '[[operations]]\ninclude-operation-id = "upsert_event"\n'
        "checks.negative_data_rejection.enabled = false\n\n"
        '[[operations]]\ninclude-operation-id = "get_event"\n'
        "checks.use_after_free.enabled = false\n\n"
        '[[operations]]\ninclude-operation-id = "get_event_by_uid"\n'
        "checks.use_after_free.enabled = false\n"
    )


def v1_operations() -> set[str]:
    paths = json.loads(DOCUMENT.read_text())["paths"]
    return {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        if path.startswith("/v1/")
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }


def test_the_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    # No worker: the fuzzer registers webhook endpoints at addresses it makes up, and links calendars;
    # a sender or a job must not act on them (nothing may leave this machine), and the API alone is
    # what is fuzzed.
    server = ServerProcess(tmp_path, env={"MEETBRIDGE_WORKER": "0"}).start("--sandbox")
    try:
        token = server.token("fuzz")
        created = httpx.post(
            f"{server.url}/v1/calendars",
            json={"name": "Fuzzed"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 200, created.text
        config = tmp_path / "schemathesis.toml"
        config.write_text(fuzz_config(created.json()["calendar"]["calendar_id"]))
        print(f"fuzz run: seed {SEED}, {EXAMPLES} cases per operation and phase")
        started = time.monotonic()
        run = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color"),
                *("run", str(DOCUMENT), "--url", server.url, "--include-path-regex", "^/v1/"),
                *("--header", f"Authorization: Bearer {token}", "--seed", str(SEED)),
                *("--max-examples", str(EXAMPLES), "--workers", "1"),
                *("--phases", "examples,coverage,fuzzing,stateful", "--generation-database", "none"),
            ],
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": str(HOOKS),
                "MEETBRIDGE_FUZZ_URL": server.url,
                "MEETBRIDGE_FUZZ_TOKEN": token,
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        elapsed = time.monotonic() - started
        report = run.stdout + run.stderr
        generated = re.search(r"(\d+) generated", report)
        selected = re.search(r"Selected: (\d+)/\d+\s+Tested: (\d+)", report)
        print(f"fuzz run: {generated.group(0) if generated else '?'} in {elapsed:.0f} s (seed {SEED})")
        assert run.returncode == 0, f"seed {SEED}: schemathesis found failures\n{report}"
        assert generated is not None, report
        assert int(generated.group(1)) >= 1000, report
        assert selected is not None, report
        assert int(selected.group(1)) == int(selected.group(2)) == len(v1_operations()), report
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.stop()
