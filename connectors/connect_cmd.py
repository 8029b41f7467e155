"""The `vigie connect` subcommand: run one field-standard connector (fiware, open311, talq, register).

Options come from flags or a YAML `--config` file with the same names (flags win). Kafka's
bootstrap address and namespace come from the settings. A source or a broker that is down is
retried with backoff; a bad payload is rejected with a reason; nothing here crashes on either.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from connectors.feed import Backoff, FeedHealth, FeedUnavailable, Rejected
from streams.config import Settings
from streams.kafka import BrokerUnavailable, EventProducer
from streams.schemas import Event

__all__ = ["DEFAULTS", "KafkaSink", "add_arguments", "run"]

log = logging.getLogger("connectors.connect")

DEFAULTS: dict[str, dict[str, Any]] = {
    "fiware": {"host": "127.0.0.1", "port": 3026, "interval": 60.0, "types": "", "stale_after": 900.0},
    "open311": {"interval": 300.0, "page_size": 100, "lookback": 86400.0, "retries": 3},
    "talq": {"host": "127.0.0.1", "retries": 3},
    "register": {},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `vigie connect fiware|open311|talq|register` and their flags."""
    sub = parser.add_subparsers(dest="connector", metavar="CONNECTOR", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="FILE", help="YAML file with these options (flags win)")

    fiware = sub.add_parser("fiware", help="receive NGSI-v2 / NGSI-LD notifications, optionally poll /v2/entities")
    common(fiware)
    fiware.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    fiware.add_argument("--port", type=int, help="port of the notification endpoint (default 3026)")
    fiware.add_argument("--poll", metavar="URL", help="also poll this NGSI-v2 context broker's /v2/entities")
    fiware.add_argument("--interval", type=float, help="seconds between polls (default 60)")
    fiware.add_argument("--types", help="entity types to poll, comma-separated (default all)")
    fiware.add_argument("--service", help="Fiware-Service header for polling")
    fiware.add_argument("--service-path", help="Fiware-ServicePath header for polling")
    fiware.add_argument("--stale-after", type=float, help="seconds after which a silent Device is offline (900)")

    open311 = sub.add_parser("open311", help="poll a GeoReport v2 requests.json into incident reports")
    common(open311)
    open311.add_argument("--url", help="the city's requests.json URL (or its GeoReport v2 base URL)")
    open311.add_argument("--once", action="store_true", default=None, help="poll one window and exit")
    open311.add_argument("--interval", type=float, help="seconds between polls (default 300)")
    open311.add_argument("--jurisdiction", help="jurisdiction_id, if the endpoint serves several")
    open311.add_argument("--page-size", type=int, help="page_size of each request (default 100)")
    open311.add_argument("--lookback", type=float, help="seconds of history read at the first poll (86400)")
    open311.add_argument("--retries", type=int, help="retries of a failed page (default 3)")
    open311.add_argument("--status-url", help="POST status changes there when an alert on a report is resolved")
    open311.add_argument("--api-key", help="api_key sent with status changes")

    talq = sub.add_parser("talq", help="send dim/switch commands as TALQ overrides; receive LampMonitor readings")
    common(talq)
    talq.add_argument("--url", help="TALQ endpoint the override commands are POSTed to")
    talq.add_argument("--host", help="address of the readings endpoint (default 127.0.0.1)")
    talq.add_argument("--port", type=int, help="also receive readings at POST /talq/readings on this port")
    talq.add_argument("--retries", type=int, help="retries of a failed command post (default 3)")

    register = sub.add_parser("register", help="import an asset register (GeoJSON or CSV) into the inventory")
    common(register)
    register.add_argument("file", metavar="FILE", help="the register, .geojson or .csv")
    register.add_argument("--mapping", metavar="FILE", help="YAML column mapping (columns, kinds, crs, kind)")
    register.add_argument("--column", action="append", metavar="OURS=THEIRS",
                          help="map one of our fields to a register column (repeatable)")
    register.add_argument("--kind", help="the kind of every row, when the register has no kind column")
    register.add_argument("--crs", help="CRS of the coordinates, e.g. EPSG:2154 (default EPSG:4326)")
    register.add_argument("--dry-run", action="store_true", default=None, help="report only, change nothing")
    register.add_argument("--json", action="store_true", default=None, help="print the report as JSON")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = dict(DEFAULTS[args.connector])
    if getattr(args, "config", None):
        try:
            loaded = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise Rejected(f"cannot read the config {args.config}: {exc}") from None
        if not isinstance(loaded, dict):
            raise Rejected(f"the config {args.config} is not a YAML mapping")
        options.update({k.replace("-", "_"): v for k, v in loaded.items()})
    options.update({k: v for k, v in vars(args).items() if v is not None})
    return options


class KafkaSink:
    """Sends events through a producer opened on first use, reopened after a failure, never blocking a start.

    While the broker is down every send raises BrokerUnavailable at once (a new connection is tried
    only after a backoff delay), so each connector marks its feed unavailable instead of hanging.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._producer: EventProducer | None = None
        self._lock = threading.Lock()
        self._backoff = Backoff(1.0, maximum=30.0)
        self._retry_at = 0.0
        self._last_error = ""

    def _open(self) -> EventProducer:
        if self._producer is not None:
            return self._producer
        if self._clock() < self._retry_at:
            raise BrokerUnavailable(self._last_error or "Kafka broker unavailable")
        try:
            self._producer = EventProducer.connect(self._settings.kafka_bootstrap, self._settings.namespace)
        except BrokerUnavailable as exc:
            self._fail(str(exc))
            raise
        self._backoff.reset()
        return self._producer

    def _fail(self, reason: str) -> None:
        self._last_error = reason
        self._retry_at = self._clock() + self._backoff.next()
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:  # closing a producer whose broker is gone may raise anything
                pass
            self._producer = None

    def send(self, event: Event) -> None:
        """Queue one event on its topic; BrokerUnavailable while the broker is down."""
        with self._lock:
            producer = self._open()
            try:
                producer.send(event)
            except BrokerUnavailable as exc:
                self._fail(str(exc))
                raise

    def flush(self) -> None:
        """Wait for the queued events; BrokerUnavailable if the broker does not take them."""
        with self._lock:
            if self._producer is None:
                return
            try:
                self._producer.flush(timeout=10)
            except BrokerUnavailable as exc:
                self._fail(str(exc))
                raise

    def close(self) -> None:
        """Flush and close the producer, if one is open."""
        with self._lock:
            if self._producer is not None:
                self._producer.close()
                self._producer = None


def _consume(settings: Settings, topic: str, handle: Callable[[Event], Any], stop: threading.Event,
             health: FeedHealth) -> None:
    """Hand every new valid event of a topic to `handle` until `stop`, reconnecting with backoff."""
    from streams.kafka import make_consumer
    from streams.schemas import InvalidEvent, Validator

    validator = Validator(max_future_s=settings.max_future_s)
    backoff = Backoff(1.0, maximum=30.0)
    consumer = None
    while not stop.is_set():
        try:
            if consumer is None:
                consumer = make_consumer(settings.kafka_bootstrap, [topic], auto_offset_reset="latest")
            batches = consumer.poll(timeout_ms=500, max_records=500)
            backoff.reset()
        except Exception as exc:  # kafka-python raises many error types when the broker goes away
            health.failed(f"Kafka: {exc}")
            if consumer is not None:
                consumer.close()
                consumer = None
            stop.wait(backoff.next())
            continue
        for records in batches.values():
            for record in records:
                try:
                    event = validator.decode(record.value)
                except InvalidEvent as exc:
                    log.info("%s: event ignored: %s", topic, exc.reason)
                    continue
                try:
                    handle(event)
                except Exception:  # one bad event must not stop the loop
                    log.exception("%s: error handling %s", topic, event.kind)
    if consumer is not None:
        consumer.close()


def _install_stop(stop: threading.Event) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _run_fiware(opts: dict, settings: Settings, stop: threading.Event) -> int:
    from connectors.fiware.client import NgsiV2Client
    from connectors.fiware.run import FiwareConnector
    from connectors.fiware.server import NOTIFY_PATHS, notification_server
    from connectors.register.registry import AssetRegistry

    registry = AssetRegistry.open(settings.data_dir)
    producer = KafkaSink(settings)
    connector = FiwareConnector(registry, producer.send, flush=producer.flush, stale_after_s=opts["stale_after"],
                                max_future_s=settings.max_future_s)
    server = notification_server(connector, host=opts["host"], port=int(opts["port"])).start()
    log.info("fiware: listening on %s%s (and %s), health at /health", server.url, NOTIFY_PATHS[0],
             ", ".join(NOTIFY_PATHS[1:]))
    try:
        if opts.get("poll"):
            types = [t for t in str(opts["types"]).split(",") if t]
            client = NgsiV2Client(opts["poll"], types=types, service=opts.get("service"),
                                  service_path=opts.get("service_path"))

            def poll() -> None:
                connector.handle_entities(client.fetch_changed())
                client.commit()

            _poll_loop(poll, connector.health_status, float(opts["interval"]), stop)
        else:
            stop.wait()
    finally:
        server.stop()
        producer.close()
    return 0


def _poll_loop(poll: Callable[[], Any], health: FeedHealth, interval: float, stop: threading.Event) -> None:
    backoff = Backoff(1.0, maximum=max(interval, 60.0))
    while not stop.is_set():
        try:
            poll()
            backoff.reset()
            stop.wait(interval)
        except (FeedUnavailable, BrokerUnavailable) as exc:
            health.failed(str(exc))
            stop.wait(backoff.next())


def _run_open311(opts: dict, settings: Settings, stop: threading.Event) -> int:
    from connectors.open311.client import Open311Client
    from connectors.open311.run import Open311Connector
    from connectors.register.registry import AssetRegistry
    from streams.topics import topic_name

    if not opts.get("url"):
        raise Rejected("open311 needs --url (the city's requests.json)")
    client = Open311Client(opts["url"], jurisdiction_id=opts.get("jurisdiction"), page_size=int(opts["page_size"]),
                           retries=int(opts["retries"]), status_url=opts.get("status_url"),
                           api_key=opts.get("api_key"))
    producer = KafkaSink(settings)
    registry = AssetRegistry.open(settings.data_dir)
    connector = Open311Connector(client, producer.send, flush=producer.flush,
                                 state_path=settings.data_dir / "open311_state.json",
                                 lookback_s=float(opts["lookback"]), max_future_s=settings.max_future_s,
                                 inside=registry.inside)
    if opts.get("status_url") and not opts.get("once"):
        topic = topic_name(settings.namespace, "alerts", "events")
        threading.Thread(target=_consume, args=(settings, topic, connector.on_alert, stop, connector.health_status),
                         name="open311-alerts", daemon=True).start()
    try:
        return connector.run(interval_s=float(opts["interval"]), stop=stop, once=bool(opts.get("once")))
    finally:
        print(json.dumps(connector.health(), ensure_ascii=False), file=sys.stderr)
        producer.close()


def _run_talq(opts: dict, settings: Settings, stop: threading.Event) -> int:
    from connectors.register.registry import AssetRegistry
    from connectors.talq.client import TalqClient
    from connectors.talq.run import TalqConnector
    from connectors.talq.server import READINGS_PATH, readings_server
    from streams.topics import topic_name

    if not opts.get("url"):
        raise Rejected("talq needs --url (the TALQ endpoint commands are posted to)")
    registry = AssetRegistry.open(settings.data_dir)
    producer = KafkaSink(settings)
    connector = TalqConnector(TalqClient(opts["url"], retries=int(opts["retries"])), producer.send,
                              flush=producer.flush, registry=registry, max_future_s=settings.max_future_s)
    server = None
    if opts.get("port") is not None:
        server = readings_server(connector, host=opts["host"], port=int(opts["port"])).start()
        log.info("talq: readings at %s%s, health at /health", server.url, READINGS_PATH)
    try:
        _consume(settings, topic_name(settings.namespace, "commands", "requests"), connector.on_event, stop,
                 connector.health_status)
    finally:
        if server is not None:
            server.stop()
        producer.close()
    return 0


def _run_register(opts: dict, settings: Settings, stop: threading.Event) -> int:
    from connectors.register.mapping import load_mapping
    from connectors.register.registry import AssetRegistry
    from connectors.register.run import import_register

    columns = {}
    for item in opts.get("column") or []:
        ours, sep, theirs = str(item).partition("=")
        if not sep:
            raise Rejected(f"--column {item!r}: expected OURS=THEIRS, e.g. asset_id=identifiant")
        columns[ours.strip()] = theirs.strip()
    mapping = load_mapping(opts.get("mapping"), columns=columns, crs=opts.get("crs"), kind=opts.get("kind"))
    registry = AssetRegistry.open(settings.data_dir)
    report = import_register(opts["file"], registry, mapping, dry_run=bool(opts.get("dry_run")))
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if opts.get("json") else report.as_text())
    return 0 if report.accepted or not report.rejected else 1


_RUNNERS = {"fiware": _run_fiware, "open311": _run_open311, "talq": _run_talq, "register": _run_register}


def run(args: argparse.Namespace, settings: Settings, stop: threading.Event | None = None) -> int:
    """Run the chosen connector until stopped (SIGTERM, Ctrl-C or `stop`); 2 on a bad option or file."""
    stop = stop or threading.Event()
    _install_stop(stop)
    try:
        opts = _options(args)
        return _RUNNERS[args.connector](opts, settings, stop)
    except Rejected as exc:
        print(f"vigie connect {args.connector}: {exc.reason}", file=sys.stderr)
        return 2
