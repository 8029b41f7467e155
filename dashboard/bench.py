"""Browser benchmark of the operator room: `vigie bench dashboard`, the whole stack on 127.0.0.1 and headless Chromium.

What runs: the embedded broker, the processor (`vigie process`, a child process), the dashboard
(`vigie dashboard`, a child process) over the processor's store, the Dijon simulator in a thread of
this process (nominal speed, then ten times), and Debian's Chromium driven by Playwright.

What is measured, in the page itself (`window.vigie.probe`, set by assets/vigie_map.js):
- `first_render_s`: navigation start of a fresh browser context (empty cache) to the first animation
  frame after the cluster and point markers on the map account for every lamp of the layer's index
  (34,000); `first_live_render_s` the same for the first full draw that carries a live tick's states.
- `latency_*`: a `LampFault(active=True)` is produced for a lamp that is not faulty; the clock is read
  just before the producer sends it, and the page notes (Date.now(), same machine clock) when the
  fault layer first draws that lamp's marker. Latency is the difference, per probe.
- `bytes_*`: bodies of the live tick's `/_dash-update-component` responses against the distinct assets
  their hideout patches carry, under load and for bursts of 10, 100 and 1000 changed lamps.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dashboard.auth import CSRF_COOKIE, SESSION_COOKIE

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "DEFAULT_BURSTS", "DEFAULT_LOADS", "TickLog", "bench_dashboard", "main", "tick_size"]

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking")
DEFAULT_LOADS = (("nominal", 1.0), ("x10", 10.0))
DEFAULT_BURSTS = (10, 100, 1000)
_TICK_OUTPUT = "seq-store.data"  # only the live tick callback writes the sequence number
_FAULTS_LAYER = "layer-faults"  # carries the same lamp changes as the lamp layer: counted once as assets
_READY_JS = "() => window.vigie && window.vigie.probe && window.vigie.probe.lampsDrawnAt !== null"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def tick_size(body: bytes) -> tuple[int, int]:
    """Bytes of a tick response and how many distinct assets its hideout patches carry."""
    try:
        payload = json.loads(body)
    except ValueError:
        return len(body), 0
    assets: set[str] = set()
    for component, props in (payload.get("response") or {}).items():
        hideout = props.get("hideout") if isinstance(props, dict) else None
        if component == _FAULTS_LAYER or not isinstance(hideout, dict):
            continue
        for op in hideout.get("operations") or ():
            value = (op.get("params") or {}).get("value")
            if op.get("location") == ["s"] and isinstance(value, dict):
                assets.update(value)
    return len(body), len(assets)


@dataclass
class TickLog:
    """The live tick responses a page received, in order (bodies read lazily, once).

    Playwright's sync API delivers page events only while one of its calls runs: wait with
    `page.wait_for_timeout`, not `time.sleep`, or the responses arrive late in this log.
    """

    responses: list = field(default_factory=list)
    bodies: list = field(default_factory=list)

    def attach(self, page) -> None:
        """Record the page's tick responses from now on."""

        def on_response(response) -> None:
            request = response.request
            if "/_dash-update-component" in request.url and _TICK_OUTPUT in (request.post_data or ""):
                self.responses.append(response)

        page.on("response", on_response)

    def mark(self) -> int:
        """A position in the log, to look at what came after it."""
        return len(self.responses)

    def _body(self, i: int) -> bytes | None:
        while len(self.bodies) <= i:
            response = self.responses[len(self.bodies)]
            try:
                self.bodies.append(response.body())
            except Exception as exc:  # a body the browser already dropped: unknown, not empty
                log.debug("tick body unavailable: %s", exc)
                self.bodies.append(None)
        return self.bodies[i]

    def sizes_since(self, mark: int) -> list[tuple[int, int]]:
        """(bytes, changed assets) of every tick response after the mark."""
        bodies = [self._body(i) for i in range(mark, len(self.responses))]
        return [tick_size(b) for b in bodies if b is not None]

    def idle_sizes_since(self, mark: int) -> list[int]:
        """Bytes of the tick responses after the mark that patched no layer at all (nothing changed)."""
        bodies = [self._body(i) for i in range(mark, len(self.responses))]
        return [len(b) for b in bodies if b is not None and b'"hideout"' not in b]

    def carrier(self, asset_id: str, mark: int) -> tuple[float, float] | None:
        """Request start and response end (epoch s) of the first tick after the mark that carried the asset."""
        needle = json.dumps(asset_id).encode()
        for i in range(mark, len(self.responses)):
            body = self._body(i)
            if body is not None and needle in body:
                timing = self.responses[i].request.timing
                start = timing["startTime"] / 1000
                end = timing["responseEnd"]
                return start, (start + end / 1000 if end >= 0 else start)
        return None


class _Stack:
    """Broker, processor and dashboard on 127.0.0.1 over a temporary data folder; the simulator on demand."""

    def __init__(self, folder: Path) -> None:
        from connectors.dijon.inventory import build_inventory

        self.folder = folder
        self.inventory = build_inventory(42)
        self.broker = None
        self.settings = None
        self.env: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = 0
        self.url = ""
        self.token = ""  # the session cookie of the bench's operator
        self.runner = None
        self._runner_thread: threading.Thread | None = None
        self._last_clock: int | None = None
        self.producer = None

    def start(self) -> None:
        """Start the broker, the processor and the dashboard; wait until the dashboard serves its lamp layer."""
        from connectors.dijon.inventory import save_inventory
        from streams.broker import EmbeddedBroker, free_port
        from streams.config import Settings
        from streams.kafka import EventProducer

        for attempt in range(5):  # a port just freed may still be refused for a moment
            try:
                self.broker = EmbeddedBroker(free_port(), log_path=self.folder / "broker.log").start()
                break
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        self.settings = Settings(kafka_bootstrap=self.broker.bootstrap, data_dir=self.folder)
        save_inventory(self.inventory, self.settings.inventory_dir)  # the processor and the dashboard read it
        self.token = self._sign_in()
        self.env = {**os.environ, "KAFKA_BOOTSTRAP": self.broker.bootstrap, "VIGIE_DATA_DIR": str(self.folder),
                    "PYTHONUNBUFFERED": "1"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn("processor", "process")
        self._spawn("dashboard", "dashboard", "--port", str(self.port))
        self.producer = EventProducer.connect(self.broker.bootstrap, self.settings.namespace, linger_ms=0)
        deadline = time.monotonic() + 90
        while True:
            try:
                for path in ("/", "/geo/lights.geojson"):
                    request = urllib.request.Request(self.url + path, headers={"Cookie": _cookie(self.token)})
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
                return
            except OSError:
                if time.monotonic() > deadline or self.procs["dashboard"].poll() is not None:
                    raise RuntimeError(f"the dashboard did not come up (see {self.folder / 'dashboard.log'})")
                time.sleep(0.3)

    def _sign_in(self) -> str:
        """An operator of the bench's store, signed in: "session token|CSRF token", the cookies its browsers carry."""
        import secrets

        from streams.store.accounts import Accounts

        accounts = Accounts.from_settings(self.settings)
        password = secrets.token_urlsafe(16)
        accounts.add_user("bench-admin", "admin", password, by="bench")  # the dashboard starts only with an admin
        accounts.add_user("bench", "operator", password, by="bench")
        token, session = accounts.open_session(accounts.user("bench"), ttl_s=6 * 3600, address="bench")
        return f"{token}|{session.csrf}"

    def _spawn(self, name: str, *argv: str) -> None:
        from streams.broker import die_with_parent

        with open(self.folder / f"{name}.log", "ab") as logfile:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "dashboard.cli", *argv], env=self.env,
                                                stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)

    def simulate(self, speed: float, span_s: float) -> None:
        """Run the simulator at a speed in a thread (stopping any previous one); it ends near the present."""
        from connectors.dijon.runner import Runner
        from connectors.dijon.simulator import Simulator
        from streams.schemas import now_ms

        self.stop_simulator()
        # start in the past so that a fast run stays behind the wall clock, like `vigie simulate --speed`
        start = now_ms() - int(span_s * max(speed - 1.0, 0.0) * 1000)
        sim = Simulator(self.inventory, seed=42, start_ms=start)
        self.runner = Runner(sim, bootstrap=self.broker.bootstrap, namespace=self.settings.namespace, speed=speed,
                             out=io.StringIO(), max_future_s=self.settings.max_future_s)
        self._runner_thread = threading.Thread(target=self.runner.run, name=f"simulator-x{speed:g}", daemon=True)
        self._runner_thread.start()
        if not self.runner.ready.wait(30):
            raise RuntimeError("the simulator did not connect to the broker")

    def simulator_rate(self) -> float:
        """Events per wall second the running simulator produced so far."""
        summary = self.runner.summary if self.runner else None
        return summary.total / summary.wall_s if summary and summary.wall_s > 0 else 0.0

    def stop_simulator(self) -> None:
        """Stop the simulator thread, if one runs."""
        if self.runner is not None:
            self.runner.stop()
            self._runner_thread.join(15)
            self._last_clock = self.runner.sim.clock
            self.runner = None

    def event_time(self) -> int:
        """Event time for an injected event: the simulator's clock (where it stopped), else the wall clock."""
        from streams.schemas import now_ms

        if self.runner is not None:
            return self.runner.sim.clock
        return self._last_clock if self._last_clock is not None else now_ms()

    def inject_faults(self, lamps: list[str]) -> float:
        """Produce a lamp failure for each lamp; return the wall time (epoch s) just before the first send."""
        from streams.schemas import LampFault

        ts = self.event_time()
        events = [LampFault(asset_id=lamp, ts=ts, fault="lampFailure", active=True) for lamp in lamps]
        produced = time.time()
        for event in events:
            self.producer.send(event)
        self.producer.flush(10)
        return produced

    def stopped(self) -> list[str]:
        """Names of the parts that stopped (empty while all run)."""
        dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
        return dead + ([] if self.broker is not None and self.broker.alive() else ["broker"])

    def close(self) -> None:
        """Stop everything this stack started."""
        self.stop_simulator()
        if self.producer is not None:
            try:
                self.producer.close(timeout=5)
            except Exception as exc:  # the broker may be gone already
                log.debug("producer close: %s", exc)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.broker is not None:
            self.broker.stop()


def _wait_for(predicate, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


class _Lamps:
    """Lamps not used yet by a probe, in a fixed pseudo-random order."""

    def __init__(self, inventory, seed: int = 7) -> None:
        ids = inventory.of_kind("light")["asset_id"].tolist()
        random.Random(seed).shuffle(ids)
        self._ids = ids

    def take(self, n: int, page) -> list[str]:
        """The next n lamps that the page does not already show as faulty."""
        seen = set(page.evaluate("() => Object.keys(window.vigie.probe.faultSeen)"))
        out = []
        while len(out) < n:
            lamp = self._ids.pop()
            if lamp not in seen:
                out.append(lamp)
        return out


def _cookie(token: str) -> str:
    return f"{SESSION_COOKIE}={token.split('|')[0]}"


def _open(browser, url: str, token: str, timeout_s: float = 60.0):
    # the room's Content-Security-Policy forbids the string evaluation of Playwright's wait_for_function
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    session, csrf = token.split("|")
    context.add_cookies([{"name": SESSION_COOKIE, "value": session, "url": url},
                         {"name": CSRF_COOKIE, "value": csrf, "url": url}])
    page = context.new_page()
    ticks = TickLog()
    ticks.attach(page)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(_READY_JS, timeout=timeout_s * 1000)
    return context, page, ticks


_WATERFALL_JS = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource");
    const pick = (part) => res.filter((e) => e.name.includes(part));
    const lamps = pick("/geo/lights.geojson"), layout = pick("/_dash-layout"), chunk = pick("async-GeoJSON");
    return {
        dom_ready: nav.domContentLoadedEventEnd,
        layout: layout.length ? layout[0].responseEnd : null,
        geojson_js: chunk.length ? chunk[0].responseEnd : null,
        lamps_preloaded: lamps.length ? Math.min(...lamps.map((e) => e.responseEnd)) : null,
        lamps_bytes: lamps.length ? Math.max(...lamps.map((e) => e.transferSize)) : null,
        lamps_fetch: lamps.length ? Math.max(...lamps.map((e) => e.startTime)) : null,
        drawn: window.vigie.probe.lampsDrawnAt,
        live: window.vigie.probe.liveDrawnAt,
    };
}"""


def _first_render(browser, url: str, token: str) -> dict:
    """One fresh page: the waterfall of its first render, in ms since navigation start."""
    context, page, _ = _open(browser, url, token)
    try:
        page.wait_for_function("() => window.vigie.probe.liveDrawnAt", timeout=30_000)
        return page.evaluate(_WATERFALL_JS)
    finally:
        context.close()


def _serve_time(url: str, token: str, runs: int = 5) -> float:
    """Median seconds for the server to answer the lamp layer, gzipped, as a browser with an empty cache asks."""
    times = []
    for _ in range(runs):
        request = urllib.request.Request(url + "/geo/lights.geojson", headers={"Accept-Encoding": "gzip",
                                                                              "Cookie": _cookie(token)})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _render_figures(runs: list[dict]) -> dict:
    def median_s(key: str):
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.median(values) / 1000, 3) if values else None

    figures = {"first_render_s": median_s("drawn"), "first_live_render_s": median_s("live"),
               "first_render_runs_s": ",".join(f"{r['drawn'] / 1000:.3f}" for r in runs),
               "render_dom_ready_s": median_s("dom_ready"), "render_layout_s": median_s("layout"),
               "render_geojson_js_s": median_s("geojson_js"), "render_lamps_preloaded_s": median_s("lamps_preloaded"),
               "render_lamps_fetch_s": median_s("lamps_fetch")}
    spans = [r["drawn"] - r["lamps_fetch"] for r in runs if r.get("lamps_fetch") is not None]
    if spans:  # from the layer's own fetch (served by the preload) to drawn: parse, index, markers
        figures["render_lamps_js_s"] = round(statistics.median(spans) / 1000, 3)
    sizes = [r["lamps_bytes"] for r in runs if r.get("lamps_bytes")]
    if sizes:
        figures["lamp_geojson_bytes"] = max(sizes)
    return {k: v for k, v in figures.items() if v is not None}


def _latencies(stack: _Stack, page, ticks: TickLog, lamps: _Lamps, probes: int, out: TextIO) -> list[tuple]:
    """Per probe: (latency, wait for the tick, tick round trip, browser draw) in seconds (parts None if unknown)."""
    results = []
    rng = random.Random(11)
    for _ in range(probes):
        page.wait_for_timeout(rng.uniform(200, 1200))  # land anywhere in the 1 s tick
        (lamp,) = lamps.take(1, page)
        mark = ticks.mark()
        produced = stack.inject_faults([lamp])
        seen = _wait_for(lambda: page.evaluate(f"() => window.vigie.probe.faultSeen[{json.dumps(lamp)}]"), 20)
        if not seen:
            print(f"# probe {lamp}: not visible after 20 s", file=out, flush=True)
            continue
        seen_s = seen / 1000
        carried = ticks.carrier(lamp, mark)
        if carried is None:
            results.append((seen_s - produced, None, None, None))
        else:
            start, end = carried
            results.append((seen_s - produced, start - produced, end - start, seen_s - end))
    return results


def _burst(stack: _Stack, page, ticks: TickLog, lamps: _Lamps, n: int) -> tuple[int, int, int]:
    """Bytes, changed assets and tick responses that carried a burst of n lamp failures."""
    chosen = lamps.take(n, page)
    mark = ticks.mark()
    stack.inject_faults(chosen)
    probe = json.dumps(chosen)
    _wait_for(lambda: page.evaluate(f"() => {probe}.every(id => window.vigie.probe.faultSeen[id])"), 30, 0.2)
    page.wait_for_timeout(1500)  # a tick more, in case the burst was cut in two
    carried = [s for s in ticks.sizes_since(mark) if s[1] > 0]
    return sum(b for b, _ in carried), sum(c for _, c in carried), len(carried)


def _load_figures(stack: _Stack, page, ticks: TickLog, lamps: _Lamps, name: str, probes: int, out: TextIO) -> dict:
    """Latency probes and tick sizes under the simulator's current load."""
    suffix = "" if name == "nominal" else f"_{name}"
    mark = ticks.mark()
    results = _latencies(stack, page, ticks, lamps, probes, out)
    figures: dict = {f"events_per_s{suffix}": round(stack.simulator_rate(), 1)}
    values = [r[0] for r in results]
    if values:
        figures[f"latency_p50_s{suffix}"] = round(_quantile(values, 0.5), 3)
        figures[f"latency_p95_s{suffix}"] = round(_quantile(values, 0.95), 3)
        figures[f"latency_max_s{suffix}"] = round(max(values), 3)
    for j, part in enumerate(("wait_tick", "tick_roundtrip", "browser_draw"), start=1):
        parts = [r[j] for r in results if r[j] is not None]
        if parts:
            figures[f"latency_{part}_p50_s{suffix}"] = round(_quantile(parts, 0.5), 3)
    figures[f"probes{suffix}"] = f"{len(values)}/{probes}"
    sizes = ticks.sizes_since(mark)
    if sizes:
        figures[f"bytes_per_update{suffix}"] = int(statistics.median(b for b, _ in sizes))
        figures[f"changes_per_update{suffix}"] = int(statistics.median(c for _, c in sizes))
    return figures


def _burst_figures(stack: _Stack, page, ticks: TickLog, lamps: _Lamps, bursts) -> dict:
    """Update sizes for bursts of changed lamps with the simulator stopped, and the bytes each asset adds."""
    mark = ticks.mark()
    page.wait_for_timeout(3000)
    quiet = ticks.idle_sizes_since(mark)
    figures: dict = {"bytes_empty_update": min(quiet)} if quiet else {}
    points = []
    for n in bursts:
        total, changed, carried = _burst(stack, page, ticks, lamps, n)
        figures.update({f"burst_{n}_bytes": total, f"burst_{n}_assets": changed, f"burst_{n}_updates": carried})
        points.append((changed, total))
    if len(points) >= 2 and points[-1][0] > points[0][0]:
        (c0, b0), (c1, b1) = points[0], points[-1]
        figures["bytes_per_changed_asset"] = round((b1 - b0) / (c1 - c0), 1)
    return figures


def bench_dashboard(*, renders: int = 3, probes: int = 30, loads=DEFAULT_LOADS, bursts=DEFAULT_BURSTS,
                    warm_s: float = 8.0, out: TextIO | None = None, browser=None) -> dict:
    """Run the room and a headless browser; return first render, latencies and update sizes as figures.

    `browser`: a Playwright Chromium already running (a test session's); else one is launched here.
    """
    out = out if out is not None else sys.stderr
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    figures: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-dashboard-"))
    stack = _Stack(folder)
    try:
        stack.start()
        stack.simulate(loads[0][1] if loads else 1.0, span_s=120)
        time.sleep(warm_s)  # the processor joins its group and fills the store
        if browser is not None:
            _measure(browser, stack, figures, renders, probes, loads, bursts, out)
        else:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                own = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
                try:
                    _measure(own, stack, figures, renders, probes, loads, bursts, out)
                finally:
                    own.close()
        if stack.stopped():
            figures["stopped_during_run"] = ",".join(stack.stopped())
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def _measure(browser, stack: _Stack, figures: dict, renders: int, probes: int, loads, bursts, out: TextIO) -> None:
    # shared machines: the load next to the figures says how far to trust them
    figures["machine_load_1m"] = f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}cpu"
    figures.update(_render_figures([_first_render(browser, stack.url, stack.token) for _ in range(max(renders, 1))]))
    figures["lamp_geojson_serve_s"] = round(_serve_time(stack.url, stack.token), 4)
    context, page, ticks = _open(browser, stack.url, stack.token)
    try:
        lamps = _Lamps(stack.inventory)
        page.wait_for_timeout(2000)
        for i, (name, speed) in enumerate(loads):
            if i > 0:
                stack.simulate(speed, span_s=120)
                page.wait_for_timeout(3000)
            figures.update(_load_figures(stack, page, ticks, lamps, name, probes, out))
        stack.stop_simulator()
        figures.update(_burst_figures(stack, page, ticks, lamps, bursts))
        if page.errors:
            figures["page_errors"] = len(page.errors)
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m dashboard.bench`: run the benchmark and print its figures as key=value lines."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    for key, value in bench_dashboard().items():
        print(f"{key}={value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
