"""A real ``meetbridge serve`` process on a free loopback port, for end-to-end tests, and the lifecycle
the e2e harnesses share: a sandbox process, the server configured for it, the test's client of both."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: object, *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition()`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def terminate(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then kill -9 if the process has not ended within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServerProcess:
    def __init__(
        self, workdir: Path, *, config: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite+aiosqlite:///{workdir / 'meetbridge.db'}"
        self.config = config
        self.env = {**os.environ, **(env or {}), "MEETBRIDGE_DATABASE_URL": self.database_url}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "meetbridge", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def token(self, application: str = "e2e-app") -> str:
        return self.cli("token", "create", application).strip().splitlines()[-1]

    def start(self, *extra: str) -> ServerProcess:
        args = [sys.executable, "-m", "meetbridge", "serve", "--port", str(self.port), *extra]
        if self.config is not None:
            args += ["--config", str(self.config)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
        )
        wait_until(self._healthy, timeout=30, what=f"meetbridge on {self.url} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=15)
        self.process = None

    def kill(self) -> None:
        """kill -9: no shutdown code runs, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def webhook_secret() -> str:
    """A new Recall webhook signing secret, in Recall's ``whsec_`` form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Sandbox(Protocol):
    """A stand-in process (``tests.e2e.recall.SandboxProcess``) as ``running_gateway`` uses it."""

    url: str

    def start(self) -> object: ...

    def stop(self) -> None: ...


class Client(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=Sandbox)
C = TypeVar("C", bound=Client)


@contextlib.contextmanager
def serving(server: ServerProcess, config_text: str, make: Callable[[], C]) -> Iterator[C]:
    """``server`` with ``config_text`` as its configuration file, its database migrated, started; the
    test's client ``make()`` of it. On exit the client is closed and the server stopped."""
    assert server.config is not None
    client: C | None = None
    try:
        server.config.write_text(config_text)
        server.cli("db", "upgrade")
        server.start()
        client = make()
        yield client
    finally:
        if client is not None:
            client.close()
        server.stop()


@contextlib.contextmanager
def running_gateway(
    server: ServerProcess,
    sandbox: S,
    config_text: Callable[[str], str],
    make: Callable[[ServerProcess, S], C],
) -> Iterator[C]:
    """``sandbox`` started, then ``server`` (``serving``) configured by ``config_text(sandbox.url)``;
    the test's client ``make(server, sandbox)``. On exit the client, the server, then the sandbox stop."""
    try:
        sandbox.start()
        with serving(server, config_text(sandbox.url), lambda: make(server, sandbox)) as client:
            yield client
    finally:
        sandbox.stop()
