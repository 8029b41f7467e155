"""The simulator's run loop: paces simulated time against the wall clock, produces to Kafka, obeys commands.

Simulated time runs `speed` times faster than the wall clock (speed 60: one simulated hour per
wall minute). Every `step_s` of wall time the simulator is advanced to the target time, its events
are sent in one batch and flushed, commands are read and acknowledged; every `status_every_s` a
line tells the events per second per topic and whether the simulator keeps pace. A broker that
goes away is reported and retried with backoff; SIGINT and SIGTERM stop the loop cleanly. The
simulated clock never runs more than `horizon_s` ahead of the wall clock (the validator rejects
events from the future): a fast run catching up with the present slows to real time.
"""

from __future__ import annotations

import io
import logging
import math
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from connectors.dijon.sim_base import TZ
from connectors.dijon.simulator import Simulator
from streams.kafka import BrokerUnavailable, EventProducer, ensure_topics, make_consumer, make_producer, wait_for_broker
from streams.schemas import CommandAck, CommandRequest, InvalidEvent, Validator, encode, now_ms
from streams.topics import CATALOG, topic_name

__all__ = ["RunSummary", "Runner", "measure_top_speed", "run_as_fast_as_possible"]

log = logging.getLogger(__name__)

FAST_CHUNK_MS = 60_000
MAX_BACKOFF_S = 30.0
FLUSH_TIMEOUT_S = 5.0  # an outage shows up within this delay rather than silently stalling the loop


@dataclass
class RunSummary:
    """What a run did: events per topic, simulated and wall time, reconnections."""

    events: Counter = field(default_factory=Counter)
    wall_s: float = 0.0
    sim_start_ms: int = 0
    sim_end_ms: int = 0
    commands: int = 0
    reconnects: int = 0
    lag_s: float = 0.0

    @property
    def total(self) -> int:
        """Events sent, all topics together."""
        return sum(self.events.values())

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second actually achieved."""
        return (self.sim_end_ms - self.sim_start_ms) / 1000 / self.wall_s if self.wall_s > 0 else 0.0


class Runner:
    """Runs a Simulator against Kafka at a speed factor (or as fast as possible), with commands and status."""

    def __init__(self, simulator: Simulator, *, bootstrap: str, namespace: str, speed: float = 1.0,
                 duration_s: float | None = None, step_s: float = 0.5, status_every_s: float = 5.0,
                 stop_at_ms: int | None = None, out: TextIO | None = None, max_future_s: float = 600.0,
                 horizon_s: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.sim = simulator
        self.bootstrap, self.namespace = bootstrap, namespace
        self.speed, self.fast = speed, math.isinf(speed)
        self.duration_s, self.step_s, self.status_every_s = duration_s, step_s, status_every_s
        self.stop_at_ms = stop_at_ms
        self.horizon_s = max_future_s / 2 if horizon_s is None else horizon_s
        self.out = out if out is not None else sys.stderr
        self.validator = Validator(max_future_s=max_future_s)
        self.commands_topic = topic_name(namespace, "commands", "requests")
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.summary = RunSummary(sim_start_ms=simulator.clock, sim_end_ms=simulator.clock)
        self._producer: EventProducer | None = None
        self._raw = None
        self._consumer = None
        self._window: Counter = Counter()
        self._window_start = 0.0

    def stop(self, *_: object) -> None:
        """Ask the loop to stop after the current step."""
        self.stopping.set()

    # -- connection -------------------------------------------------------------------------------
    def _open(self) -> None:
        self._raw = make_producer(self.bootstrap)
        self._producer = EventProducer(self._raw, self.namespace)
        consumer = make_consumer(self.bootstrap, (), group_id=None, auto_offset_reset="latest")
        consumer.subscribe([self.commands_topic])
        consumer.poll(timeout_ms=200)
        for tp in consumer.assignment():
            consumer.position(tp)
        self._consumer = consumer

    def _close(self) -> None:
        producer, consumer, raw = self._producer, self._consumer, self._raw
        self._producer = self._consumer = self._raw = None
        if consumer is not None:
            try:
                consumer.close()
            except Exception as exc:  # closing a consumer of a dead broker may raise anything kafka-python has
                log.debug("ignoring error on close: %s", exc)
        if producer is None:
            return
        try:
            producer.flush(timeout=FLUSH_TIMEOUT_S)
            raw.close(timeout=FLUSH_TIMEOUT_S)
        except BrokerUnavailable:
            self._say("the last events could not be delivered: the broker is gone")
            # kafka-python's close() flushes first and raises while records wait for a dead broker.
            sender = getattr(raw, "_sender", None)
            if sender is not None:
                sender.force_close()
            raw._closed = True

    def _reconnect(self, reason: BrokerUnavailable) -> bool:
        """Wait with backoff until the broker answers again (the clients reconnect by themselves); False if stopped."""
        delay = 1.0
        while not self.stopping.is_set():
            self._say(f"broker at {self.bootstrap} unavailable ({reason}); retrying in {delay:.0f} s")
            if self.stopping.wait(delay):
                return False
            try:
                wait_for_broker(self.bootstrap, timeout=3.0)
                ensure_topics(self.bootstrap, self.namespace)
            except BrokerUnavailable as exc:
                reason, delay = exc, min(delay * 2, MAX_BACKOFF_S)
                continue
            self.summary.reconnects += 1
            self._say(f"broker at {self.bootstrap} answers again; resuming (the simulated clock resumes where it was)")
            return True
        return False

    # -- loop -------------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Run until stopped, the duration is over or the simulated clock reaches `stop_at_ms`."""
        restore = self._install_signals()
        try:
            self._open()
            self.ready.set()
            self._loop()
        finally:
            self._close()
            for sig, handler in restore.items():
                signal.signal(sig, handler)
        self._status(final=True)
        return self.summary

    def _loop(self) -> None:
        sim, summary = self.sim, self.summary
        started = wall0 = time.monotonic()
        sim0 = sim.clock
        self._window_start, next_status = started, started + self.status_every_s
        pending: list = []
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.duration_s is not None and now - started >= self.duration_s:
                break
            if self.stop_at_ms is not None and sim.clock >= self.stop_at_ms and not pending:
                break
            if not pending:
                target = sim.clock + FAST_CHUNK_MS if self.fast else sim0 + int((now - wall0) * self.speed * 1000)
                if self.stop_at_ms is not None:
                    target = min(target, self.stop_at_ms)
                horizon = now_ms() + int(self.horizon_s * 1000)
                if target > horizon:  # never run ahead of the wall clock further than the validator accepts
                    target = horizon
                    if self.fast and sim.clock >= horizon:
                        break
                chunk = max(FAST_CHUNK_MS, int(4 * self.step_s * self.speed * 1000)) if not self.fast else FAST_CHUNK_MS
                upto = min(target, sim.clock + chunk)
                pending = sim.advance(upto) if upto > sim.clock else []
                summary.lag_s = 0.0 if self.fast else max(0.0, (target - sim.clock) / 1000)
            try:
                pending += self._commands()
                self._send(pending)
                pending = []
            except BrokerUnavailable as exc:
                if not self._reconnect(exc):
                    break
                wall0, sim0 = time.monotonic(), sim.clock  # resume from here rather than flood the broker
                continue
            summary.wall_s = time.monotonic() - started
            summary.sim_end_ms = sim.clock
            if time.monotonic() >= next_status:
                self._status()
                next_status = time.monotonic() + self.status_every_s
            if not self.fast:
                self.stopping.wait(max(0.0, self.step_s - (time.monotonic() - now)))
        summary.wall_s = time.monotonic() - started

    def _commands(self) -> list:
        records = self._consumer.poll(timeout_ms=0, max_records=500) if self._consumer else {}
        acks = []
        for batch in records.values():
            for record in batch:
                try:
                    command = self.validator.decode(record.value)
                except InvalidEvent as exc:
                    self._say(f"ignoring an invalid command on {self.commands_topic}: {exc.reason}")
                    continue
                if not isinstance(command, CommandRequest):
                    continue
                self.summary.commands += 1
                if command.expires_at <= now_ms():
                    acks.append(CommandAck(asset_id=command.asset_id, ts=self.sim.clock, command_id=command.command_id,
                                           status="expired", detail="the command expired before it reached the field"))
                else:
                    acks += self.sim.apply_command(command, self.sim.clock)
        return acks

    def _send(self, events: list) -> None:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("not connected")
        for event in events:
            producer.send(event)
        producer.flush(timeout=FLUSH_TIMEOUT_S)
        for event in events:
            self._window[event.kind] += 1
        self.summary.events.update(event.kind for event in events)

    # -- reporting --------------------------------------------------------------------------------
    def _status(self, final: bool = False) -> None:
        now = time.monotonic()
        span = max(now - self._window_start, 1e-9)
        counts = self.summary.events if final else self._window
        span = self.summary.wall_s if final and self.summary.wall_s > 0 else span
        topics = ", ".join(f"{topic} {n / span:.0f}" for topic, n in sorted((_suffix(k), n) for k, n in counts.items()))
        moment = datetime.fromtimestamp(self.sim.clock / 1000, TZ).strftime("%Y-%m-%d %H:%M:%S")
        pace = "as fast as possible" if self.fast else (
            f"lag {self.summary.lag_s:.0f} s sim, " + ("keeping pace" if self.summary.lag_s <= 2 * self.step_s * self.speed
                                                      else "BEHIND"))
        head = "done:" if final else "sim"
        self._say(f"{head} {moment} (x{self.summary.speed:.0f} achieved) | "
                  f"{sum(counts.values()) / span:.0f} ev/s [{topics or 'no events'}] | {pace}")
        self._window, self._window_start = Counter(), now

    def _say(self, text: str) -> None:
        print(f"vigie simulate: {text}", file=self.out, flush=True)

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        restore = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            restore[sig] = signal.signal(sig, self.stop)
        return restore


_SUFFIX = {event: spec.suffix for spec in CATALOG for event in spec.events}


def _suffix(kind: str) -> str:
    return _SUFFIX.get(kind, kind)


def run_as_fast_as_possible(simulator: Simulator, *, bootstrap: str, namespace: str, duration_s: float | None = None,
                            stop_at_ms: int | None = None, out: TextIO | None = None) -> RunSummary:
    """Produce the simulator's events to Kafka with no pacing, to measure or to fill a namespace quickly."""
    return Runner(simulator, bootstrap=bootstrap, namespace=namespace, speed=math.inf, duration_s=duration_s,
                  stop_at_ms=stop_at_ms, out=out).run()


def measure_top_speed(inventory, seconds: float, *, bootstrap: str | None = None, namespace: str = "train-bench",
                      start_ms: int | None = None, seed: int = 42) -> dict:
    """Measure how fast the simulator generates (and encodes, and with a broker produces) events.

    The window starts at 16:00 local on a winter day by default, so it spans the dusk burst and
    the evening. `speed_factor` is simulated seconds per wall second; `events_per_sim_s` what a
    simulated second costs.
    """
    start = start_ms if start_ms is not None else int(datetime(2025, 1, 14, 16, 0, tzinfo=TZ).timestamp() * 1000)
    sim = Simulator(inventory, seed=seed, start_ms=start)
    generated = encoded = 0
    gen_s = enc_s = 0.0
    begin = time.perf_counter()
    while time.perf_counter() - begin < seconds:
        t0 = time.perf_counter()
        events = sim.advance(sim.clock + FAST_CHUNK_MS)
        t1 = time.perf_counter()
        for event in events:
            encode(event)
        gen_s, enc_s = gen_s + t1 - t0, enc_s + time.perf_counter() - t1
        generated += len(events)
        encoded += len(events)
    sim_s = (sim.clock - start) / 1000
    per_sim_s = generated / sim_s if sim_s else 0.0
    result = {
        "sim_seconds": sim_s,
        "events": generated,
        "events_per_sim_s": round(per_sim_s, 1),
        "events_per_s_generated": round(generated / gen_s, 0) if gen_s else 0.0,
        "events_per_s_encoded": round(encoded / (gen_s + enc_s), 0) if gen_s + enc_s else 0.0,
        "speed_factor": round(sim_s / (gen_s + enc_s), 1) if gen_s + enc_s else 0.0,
    }
    if bootstrap is not None:
        produced = Simulator(inventory, seed=seed, start_ms=start)
        summary = run_as_fast_as_possible(produced, bootstrap=bootstrap, namespace=namespace, duration_s=seconds,
                                          out=io.StringIO())
        result["events_per_s_produced"] = round(summary.total / summary.wall_s, 0) if summary.wall_s else 0.0
        result["speed_factor_produced"] = round(summary.speed, 1)
    return result
