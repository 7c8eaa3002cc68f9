"""A local AWS endpoint: moto in server mode on loopback, in a thread of this process.

    with LocalAws() as aws, aws.env():
        boto3.client("sns").create_topic(Name="t")   # goes to moto via AWS_ENDPOINT_URL

Why a thin wrapper around ``moto.server.ThreadedMotoServer``:

- ``port=0`` lets the OS pick a free port; the bound port is only known after start
  (``ThreadedMotoServer.get_host_and_port()``, moto 5.2.5), so ``url`` is built then.
- moto's stock request handler logs every request through werkzeug's logger, which adds
  a stream handler of its own: ours logs nothing per request (server errors still do).
- werkzeug's threaded server serves each connection in a thread of its own: one whose
  client is idle or half-way through a request (HTTP/1.1 keep-alive) stays blocked on its
  socket after ``shutdown()``; moto's ``stop()`` closes neither those sockets nor the
  listening one. ``stop()`` here does both and joins every thread, so nothing of the
  server outlives the ``with`` block (moto answers ``Connection: close`` to boto3's
  requests today, so this is a guard, not the common case).
- moto warns (``UserWarning`` and the ``moto`` logger) for each CloudFormation resource
  type it does not implement; ``deploy_stack`` reports those itself
  (``DeployedStack.skipped``), so while a ``quiet`` server runs those are muted.
- moto's state is per process, not per server: every ``LocalAws`` in one process sees the
  same backends, and ``reset()`` clears all of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, cast

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from iotwatch_local import device_apis, event_rules, fast_metrics

DEFAULT_REGION = "us-east-1"
#: moto's default account (used for any access key that does not name one).
DEFAULT_ACCOUNT_ID = "123456789012"

_log = logging.getLogger(__name__)

# Variables that would send boto3 somewhere else than our endpoint, or to a real profile.
_SHADOWING_PREFIXES = ("AWS_ENDPOINT_URL_",)
_SHADOWING_NAMES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


MOTO_UNSUPPORTED_WARNING = r"Tried to parse .* not supported by moto"
_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved_level = logging.NOTSET


def _mute_moto(on: bool) -> None:
    """Mute moto's per-resource-type warnings while at least one quiet LocalAws runs."""
    global _quiet_depth, _quiet_saved_level
    moto_logger = logging.getLogger("moto")
    with _quiet_lock:
        if on:
            _quiet_depth += 1
            if _quiet_depth == 1:
                _quiet_saved_level = moto_logger.level
                moto_logger.setLevel(logging.ERROR)
                warnings.filterwarnings("ignore", message=MOTO_UNSUPPORTED_WARNING, category=UserWarning)
        else:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                moto_logger.setLevel(_quiet_saved_level)
                filters = cast(list[Any], warnings.filters)
                filters[:] = [
                    f
                    for f in filters
                    if not (
                        f[0] == "ignore" and f[1] is not None and f[1].pattern == MOTO_UNSUPPORTED_WARNING
                    )
                ]


class _Connections:
    """Open keep-alive connections and the threads serving them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[socket.socket, threading.Thread] = {}

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._open[conn] = threading.current_thread()

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.pop(conn, None)

    def close_all(self, timeout: float) -> list[threading.Thread]:
        """Wake every handler blocked on a socket, wait for it; return those still alive."""
        with self._lock:
            items = list(self._open.items())
        for conn, _ in items:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in items:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t for _, t in items if t.is_alive()]


def _quiet_handler(connections: _Connections) -> type[MotoRequestHandler]:
    class QuietMotoRequestHandler(MotoRequestHandler):
        def setup(self) -> None:
            super().setup()
            connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                connections.discard(self.connection)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

        def log(self, type: str, message: str, *args: Any) -> None:
            if type == "error":
                _log.debug("moto server: " + message.rstrip(), *args)

    return QuietMotoRequestHandler


class _QuietThreadedMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` with a quiet, connection-tracking request handler."""

    def __init__(self, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.connections = _Connections()

    def _server_entry(self) -> None:  # same as moto 5.2.5's, with our handler
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address,
            self._port,
            app,
            True,
            request_handler=_quiet_handler(self.connections),
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def close(self, timeout: float = 10.0) -> list[threading.Thread]:
        """Stop accepting, close every connection, join; return request threads still busy."""
        self.stop()  # shutdown() the accept loop and join its thread
        leftovers = self.connections.close_all(timeout)
        if self._server is not None:
            self._server.server_close()
        return leftovers


class LocalAws:
    """moto on ``http://127.0.0.1:<free port>``; a context manager that starts and stops it.

    ``environ()`` gives the variables that point boto3 at it; ``env()`` applies them to
    ``os.environ`` for a ``with`` block and restores what was there before. Pass
    ``apply_env=True`` to have the outer ``with`` do both. ``quiet`` (default) mutes
    moto's per-resource-type CloudFormation warnings while it runs.
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        port: int = 0,
        apply_env: bool = False,
        quiet: bool = True,
        stop_timeout: float = 10.0,
    ) -> None:
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self._host = host
        self._port = port
        self._apply_env = apply_env
        self._quiet = quiet
        self._stop_timeout = stop_timeout
        self._muted = False
        self._server: _QuietThreadedMotoServer | None = None
        self._url: str | None = None
        self._env_stack: contextlib.ExitStack | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> LocalAws:
        if self._server is not None:
            raise RuntimeError("LocalAws already started")
        fast_metrics.install()  # moto's GetMetricData is quadratic in stored datapoints
        device_apis.install()  # the fleet index and Contributor Insights moto lacks
        event_rules.install()  # a schedule rule matches no put event (incident events)
        server = _QuietThreadedMotoServer(self._host, self._port)
        server.start()
        if self._quiet:
            _mute_moto(True)
            self._muted = True
        host, port = server.get_host_and_port()
        self._server = server
        self._url = f"http://{host}:{port}"
        return self

    def stop(self) -> list[threading.Thread]:
        """Stop the server and wait for its threads; return any still busy (normally none).

        A request thread still computing (moto answering a huge query, say, after the
        client gave up) cannot be interrupted: after ``stop_timeout`` seconds it is left
        to finish on its own (a daemon thread, its socket already closed), with a warning
        logged, rather than raising over whatever is leaving the ``with`` block.
        """
        server, self._server = self._server, None
        leftovers: list[threading.Thread] = []
        try:
            if server is not None:
                leftovers = server.close(self._stop_timeout)
                if leftovers:
                    _log.warning(
                        "local AWS endpoint stopped with %d request thread(s) still busy after %.0fs: %s",
                        len(leftovers),
                        self._stop_timeout,
                        ", ".join(t.name for t in leftovers),
                    )
        finally:
            fast_metrics.uninstall()
            device_apis.uninstall()
            event_rules.uninstall()
            if self._muted:
                _mute_moto(False)
                self._muted = False
        return leftovers

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> LocalAws:
        self.start()
        if self._apply_env:
            self._env_stack = contextlib.ExitStack()
            try:
                self._env_stack.enter_context(self.env())
            except BaseException:
                self.stop()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._env_stack is not None:
                self._env_stack.close()
                self._env_stack = None
        finally:
            self.stop()

    # endpoint ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._url is None or self._server is None:
            raise RuntimeError("LocalAws is not running: use it as a context manager or call start()")
        return self._url

    def reset(self) -> None:
        """Forget every resource in every moto backend (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        device_apis.reset()

    # device look-ups (iotwatch_local.device_apis) ------------------------------------------
    def serve_fleet(self, fleet: Any) -> None:
        """Answer the fleet index and Contributor Insights from a `devices.SimulatedFleet`
        (None: as an account with fleet indexing off)."""
        device_apis.serve(fleet)
        if fleet is not None:
            # moto builds a service's request router on its first request, and two first
            # requests at once (a page's look-ups run in parallel) can race it into a 500:
            # one request now, alone, builds it
            self.client("iot").get_cardinality(queryString="thingName:*")

    def fail(
        self,
        operation: str,
        code: str,
        *,
        message: str = "",
        times: int | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        """Make a device look-up API ("GetBucketsAggregation", "GetInsightRuleReport", ...) answer
        `code` (after `delay_seconds`) for the next `times` calls (None: until `clear_faults`)."""
        device_apis.fail(operation, code, message=message, times=times, delay_seconds=delay_seconds)

    def clear_faults(self) -> None:
        device_apis.clear_faults()

    def environ(self) -> dict[str, str]:
        """The variables that point boto3 (and the AWS CLI) at this endpoint, dummy-authenticated."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # never read a developer's real profile or ask an instance metadata service
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    @contextlib.contextmanager
    def env(self, extra: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
        """Apply ``environ()`` (plus ``extra``) to ``os.environ``; restore it exactly on exit.

        Variables that would redirect boto3 elsewhere (``AWS_PROFILE``,
        ``AWS_ENDPOINT_URL_<SERVICE>``, container/web-identity credentials) are removed
        for the duration.
        """
        values = {**self.environ(), **(extra or {})}
        with patched_environ(values, unset=_shadowing_names(os.environ)):
            yield values

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client bound to this endpoint explicitly (works without ``env()``)."""
        import boto3

        env = self.environ()
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=kwargs.pop("region_name", self.region),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            **kwargs,
        )


def _shadowing_names(environ: Mapping[str, str]) -> list[str]:
    return [
        name
        for name in environ
        if name in _SHADOWING_NAMES or any(name.startswith(p) for p in _SHADOWING_PREFIXES)
    ]


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str], unset: list[str] | tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` and remove ``unset`` in ``os.environ``; put every touched name back on exit."""
    touched = set(values) | set(unset)
    saved = {name: os.environ.get(name) for name in touched}
    try:
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
