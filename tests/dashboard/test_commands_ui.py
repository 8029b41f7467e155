"""Remote control from the browser: an operator dims a commune, or an area drawn on the map; the simulator obeys.

The whole chain runs: the Dash room sends the command to the embedded broker, the simulator's
runner applies it and acknowledges, the processor writes the acknowledgement and the lamps'
new readings into the store, and the page's commands list shows it done.
"""

from __future__ import annotations

import io
import threading
import types
from datetime import date
from datetime import time as clock

import orjson
import pytest
from playwright.sync_api import expect

from connectors.dijon.inventory import Inventory
from connectors.dijon.runner import Runner
from connectors.dijon.sim_base import local_ms
from connectors.dijon.simulator import Simulator
from streams.config import Settings
from streams.kafka import ensure_topics
from streams.processor import Processor
from streams.store import open_store
from streams.store.inventory import load_inventory_into


NS = "train-cmdui"
COMMUNE, COMMUNE_NAME = "21270", "Flavignerot"  # 160 lamps: under the second-operator threshold


def _lamp_readings(store, lamp_ids) -> dict[str, dict]:
    out = {}
    for row in store.asset_states(kind="light"):
        if row["asset_id"] in lamp_ids:
            attrs = row["attributes"]
            out[row["asset_id"]] = orjson.loads(attrs) if isinstance(attrs, (str, bytes)) else attrs
    return out


@pytest.fixture()
def field(embedded_broker, inventory, tmp_path, wait):
    """Flavignerot's lamps under the simulator (a simulated minute a second) and a processor, in a session namespace."""
    ensure_topics(embedded_broker.bootstrap, NS)
    settings = Settings(data_dir=tmp_path, namespace=NS, kafka_bootstrap=embedded_broker.bootstrap)
    a = inventory.assets
    keep = ((a["commune_code"] == COMMUNE) & a["kind"].isin(["light", "cabinet"])) | (a["kind"] == "weather")
    small = Inventory(communes=inventory.communes, assets=a[keep].reset_index(drop=True), lines=inventory.lines,
                      seed=42)
    lamp_ids = set(small.assets.loc[small.assets["kind"] == "light", "asset_id"])
    store = open_store(settings, NS)
    load_inventory_into(store, small)

    # 18:00 in January: every lamp at 100 % until the 22:00 programme; one simulated minute a second
    sim = Simulator(small, seed=5, start_ms=local_ms(date(2025, 1, 14), clock(18, 0)))
    runner = Runner(sim, bootstrap=embedded_broker.bootstrap, namespace=NS, speed=60, step_s=0.25,
                    out=io.StringIO())
    processor = Processor(settings, store=store, idle_tick_s=0.5)
    stop = threading.Event()
    threads = [threading.Thread(target=runner.run, daemon=True),
               threading.Thread(target=processor.run, kwargs={"should_stop": stop.is_set}, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        assert runner.ready.wait(20)

        def reported():
            readings = _lamp_readings(store, lamp_ids)
            return readings if len(readings) >= 0.9 * len(lamp_ids) else None
        before = wait(reported, timeout=40)
        assert before, "the lamps' first readings did not reach the store"
        yield types.SimpleNamespace(settings=settings, store=store, sim=sim, lamp_ids=lamp_ids, small=small,
                                    before=before)
    finally:
        stop.set()
        runner.stop()
        for thread in threads:
            thread.join(20)
        processor.close()


@pytest.mark.browser
@pytest.mark.kafka
def test_an_operator_dims_a_commune_from_the_browser_and_the_lamps_follow(field, serve, page, artifacts, wait):
    store, lamp_ids = field.store, field.lamp_ids
    full_power = sum(r["power_w"] for r in field.before.values())

    with serve(types.SimpleNamespace(settings=field.settings)) as server:
        server.sign_in(page, "trainee", "anne")  # a session namespace: trainees command there
        accounts = server.app.server.config["VIGIE_ROOM"].guard.accounts
        accounts.add_user("bob", "trainee", "bob's long password", by="test")
        page.goto(server.url)
        page.click("text=Télécommande")
        page.locator("#cmd-commune").click()  # Dijon: thousands of lamps, a second operator must confirm
        page.get_by_role("option", name="Dijon", exact=True).click()
        page.wait_for_selector("#cmd-count .cmd-needs", timeout=15000)
        assert page.locator(".cmd-confirm-needed").count() == 1
        page.fill("#cmd-reason", "Essai")
        page.click("#cmd-send")
        page.wait_for_selector("#cmd-feedback.feedback-warn", timeout=10000)
        assert "second opérateur doit confirmer" in page.inner_text("#cmd-feedback")
        page.fill("#cmd-confirm", "bob")  # a name is not enough: the second operator types their own password
        page.fill("#cmd-confirm-password", "not bob's password")
        page.click("#cmd-send")
        page.wait_for_function("document.querySelector('#cmd-feedback').innerText.includes('mot de passe')",
                               timeout=10000)
        assert page.input_value("#cmd-confirm-password") == ""  # never left in the form
        live = open_store(field.settings, "live")  # where the accounts and their sign-ins live
        assert live.audit(actor="bob")[0]["action"] == "login.failed" and not store.commands()
        page.fill("#cmd-confirm", "")
        page.fill("#cmd-reason", "")

        page.locator("#cmd-commune").click()
        page.get_by_role("option", name=COMMUNE_NAME).click()
        count = page.locator(f"#cmd-count .cmd-n[data-n='{len(lamp_ids)}']")
        count.wait_for(timeout=15000)
        assert "second" not in page.inner_text("#cmd-count")  # 160 lamps: no second operator needed
        assert page.locator(".cmd-confirm-needed").count() == 0
        page.click("#cmd-send")  # no reason: refused, in the operator's language
        page.wait_for_function("document.querySelector('#cmd-feedback').innerText.includes('motivée')",
                               timeout=10000)
        page.wait_for_selector("#cmd-feedback.feedback-warn", timeout=10000)
        assert "motivée" in page.inner_text("#cmd-feedback")
        page.fill("#cmd-reason", "Essai de gradation")
        page.click("#cmd-send")
        page.wait_for_selector("#cmd-feedback.feedback-ok", timeout=15000)
        assert "envoyée" in page.inner_text("#cmd-feedback")
        page.wait_for_selector(".cmd-table .cmd-status.cmd-st-done", timeout=30000)
        page.screenshot(path=str(artifacts / "commands-dim-commune.png"))
        [command] = store.commands()

        page.locator("#cmd-commune").click()  # Dijon again, now confirmed by bob at the desk
        page.get_by_role("option", name="Dijon", exact=True).click()
        page.wait_for_selector("#cmd-count .cmd-needs", timeout=15000)
        page.fill("#cmd-reason", "Essai confirmé")
        page.fill("#cmd-confirm", "bob")
        page.fill("#cmd-confirm-password", "bob's long password")
        page.click("#cmd-send")
        page.wait_for_function("document.querySelector('#cmd-list').innerText.includes('anne + bob')", timeout=15000)
        confirmed = next(c for c in store.commands() if c["command_id"] != command["command_id"])
        assert confirmed["user"] == "anne" and confirmed["confirmed_by"] == "bob"

    assert command["status"] == "done" and command["applied"] == len(lamp_ids) and command["level"] == 50
    assert command["expires_at"] - command["sent_ts"] == 60 * 60_000
    assert [r["action"] for r in store.audit(actor="anne")][:2] == ["command.dim", "command.dim"]

    def dimmed():
        now = _lamp_readings(store, lamp_ids)
        lit = [r for r in now.values() if r.get("status", "ok") == "ok" and r["power_w"] > 0]
        return now if lit and all(r["level"] == 50 for r in lit) else None
    after = wait(dimmed, timeout=30)
    assert after, "the lamps did not report 50 % in the store"
    assert sum(r["power_w"] for r in after.values()) < 0.6 * full_power  # the energy readings drop
    frame = field.sim.lamp_frame()
    assert frame.loc[frame["fault"] == "", "override"].all()


def _drawn_area(requests: list) -> dict | None:
    """The drawn area the page last sent with a callback (the drawing control's `geojson`, a pattern-matching id)."""
    for body in reversed(requests):
        for matches in (body.get("state") or []) + (body.get("inputs") or []):
            for item in matches if isinstance(matches, list) else ():
                if item.get("property") == "geojson":
                    return item.get("value")
    return None


@pytest.mark.browser
@pytest.mark.kafka
def test_an_operator_draws_an_area_dims_it_then_returns_it_to_the_programme(field, serve, page, artifacts):
    from streams.commands import select_area

    store, sim = field.store, field.sim
    requests: list = []
    page.on("request", lambda r: requests.append(orjson.loads(r.post_data)) if "_dash-update-component" in r.url
            and r.post_data and "cmd-draw" in r.post_data else None)
    # the room knows only Flavignerot's lamps, like the simulator: one cluster, which zooms onto them
    with serve(types.SimpleNamespace(settings=field.settings), inventory=field.small) as server:
        server.sign_in(page, "trainee")
        page.goto(server.url)
        page.locator(".vigie-cluster").first.dispatch_event("click")  # under an alert marker: no pointer click
        page.wait_for_timeout(1500)
        page.click("text=Télécommande")
        page.click("#cmd-draw-rectangle")
        expect(page.locator("#cmd-target input[value='area']")).to_be_checked()  # the target follows
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.1)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.9, steps=12)
        page.mouse.up()
        shown = page.locator("#cmd-count .cmd-n")
        shown.wait_for(timeout=15000)
        n = int(shown.get_attribute("data-n"))
        assert "Zone dessinée" in shown.inner_text() and "point(s) lumineux" in shown.inner_text()
        page.screenshot(path=str(artifacts / "commands-area-preview.png"))
        area = _drawn_area(requests)
        expected = select_area(field.small.assets, area)
        assert n == expected.count and 0 < n < len(field.lamp_ids), (n, len(field.lamp_ids))

        page.fill("#cmd-reason", "Manifestation place de la mairie")
        page.click("#cmd-send")
        page.wait_for_selector("#cmd-feedback.feedback-ok", timeout=15000)
        page.wait_for_selector(".cmd-table .cmd-status.cmd-st-done", timeout=30000)
        assert f"Zone dessinée ({n})" in page.inner_text("#cmd-list")
        [dim] = store.commands()
        assert dim["scope"] == f"area:{n}" and dim["applied"] == n and sorted(dim["targets"]) == list(expected.lamp_ids)
        frame = sim.lamp_frame().set_index("asset_id")
        assert frame.loc[list(expected.lamp_ids), "override"].all() and not frame["override"].all()

        # back to the programme before the hour is up
        page.locator("#cmd-action").click()
        page.get_by_role("option", name="Retour au programme (fin de la consigne)").click()
        page.fill("#cmd-reason", "Fin de la manifestation")
        page.click("#cmd-send")
        page.wait_for_function("document.querySelectorAll('.cmd-table .cmd-st-done.cmd-status').length >= 2",
                               timeout=30000)
        assert "Retour au programme" in page.inner_text("#cmd-list")
        page.screenshot(path=str(artifacts / "commands-area-back-to-programme.png"))

        # the same area for crossroads: the resume action says "back to normal" (none in Flavignerot)
        page.click("#cmd-area-kind input[value='signal']")
        page.wait_for_function("document.querySelector('#cmd-count').innerText.includes('0 carrefour')",
                               timeout=10000)
        page.locator("#cmd-action").click()
        expect(page.get_by_role("option", name="Retour au fonctionnement normal")).to_be_visible()
        page.keyboard.press("Escape")
        page.click("#cmd-draw-clear")  # the shapes go, and so does the preview
        page.wait_for_function("document.querySelector('#cmd-count').innerText.includes('Aucune zone')",
                               timeout=10000)
        assert not page.errors, page.errors

    resume = store.commands()[0]
    assert resume["action"] == "normal" and resume["scope"] == f"area:{n}" and resume["applied"] == n
    assert not sim.lamp_frame()["override"].any()


def test_every_refusal_reads_in_french_and_english(inventory):
    from layouts.components.commands import refusal_text
    from streams.commands import CommandRefused, prepare_command, select_targets

    lamps = select_targets(inventory.assets, commune=COMMUNE)
    signal = select_targets(inventory.assets, signals=["SIG-001"])
    big = select_targets(inventory.assets, commune="21231")
    cases = [
        (lamps, dict(role="viewer"), "ce rôle ne peut pas"),
        (lamps, dict(reason=" "), "doit être motivée"),
        (select_targets(inventory.assets, lamps=["LP-NOPE"]), {}, "cible inconnue (LP-NOPE)"),
        (lamps, dict(action="flash", level=None), "action inadaptée"),
        (signal, dict(level=None, confirmed_by="bob"), "action inadaptée"),
        (lamps, dict(level=120), "entre 0 et 100"),
        (lamps, dict(action="switch_on"), "entre 0 et 100"),
        (lamps, dict(minutes=0), "entre 1 et 1440 minutes"),
        (lamps, dict(recent_by_user=10), "trop de commandes"),
        (big, {}, "un second opérateur doit confirmer"),
        (big, dict(confirmed_by="alice"), "une autre personne"),
        (lamps, dict(origin_namespace="train-x"), "formation ne peut pas commander le réel"),
        (big, dict(confirmed_by="bob", confirmer_role="manager"), "ne permet pas de confirmer"),
    ]
    for reason, french in (("confirmation refused: wrong name or password of the second operator", "mot de passe"),
                           ("confirmation locked: too many wrong passwords for this name", "bloquée")):
        assert french in refusal_text(reason, "fr") and refusal_text(reason, "en") != refusal_text(reason, "fr")
    for reason, french in (("the drawn area is empty", "zone tracée est vide"),
                           ("the drawn area lies outside the metropolis", "hors de la métropole"),
                           ("the drawn area reaches 12000 assets, over the cap of 10000", "plus de 10000")):
        assert french in refusal_text(reason, "fr") and refusal_text(reason, "en") != refusal_text(reason, "fr")
    for selection, change, french in cases:
        kwargs = dict(action="dim", level=50, minutes=60, user="alice", role="operator", reason="r", now_ms=10**12 * 2)
        kwargs.update(change)
        with pytest.raises(CommandRefused) as refused:
            prepare_command(selection, **kwargs)
        assert french in refusal_text(refused.value.reason, "fr"), (refused.value.reason, change)
        assert refusal_text(refused.value.reason, "en") != refusal_text(refused.value.reason, "fr")


def test_the_asset_panel_offers_remote_control_for_lamps_cabinets_and_signals(store_kit, inventory):
    from dashboard.app import create_app
    from dashboard.ids import CMD_FROM_ASSET
    from layouts.components.asset_panel import asset_panel

    room = create_app(store_kit.settings, inventory=inventory).server.config["VIGIE_ROOM"]

    def buttons(asset_id):
        found = []

        def walk(node):
            if getattr(node, "id", None) and isinstance(node.id, dict) and node.id.get("type") == CMD_FROM_ASSET:
                found.append(node.id["asset"])
            for child in getattr(node, "children", None) or []:
                if not isinstance(child, str):
                    walk(child)
        for part in asset_panel(room, {"asset_id": asset_id}, "fr"):
            walk(part)
        return found

    by_kind = inventory.assets.groupby("kind")["asset_id"].first()
    for kind in ("light", "cabinet", "signal"):
        assert buttons(by_kind[kind]) == [by_kind[kind]]
    assert buttons(by_kind["camera"]) == []
