"""Sign-in, the room under its Content-Security-Policy, sign-out and the audit journal, in headless Chromium.

These pages obey the policy (no `bypass_csp`): the map, the queue and an acknowledgement
(Dash's renderer sending the CSRF header) must work with no violation reported.
"""

from __future__ import annotations


import pytest

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def _one_alert(store_kit, inventory) -> int:
    """A major alert on a lamp, and a live heartbeat; the alert's id."""
    lamp = inventory.assets[inventory.assets["kind"] == "light"].iloc[10]
    [alert_id] = store_kit.alerts([{"asset_id": lamp.asset_id, "severity": "major", "lat": lamp.lat,
                                    "lon": lamp.lon}])
    store_kit.heartbeat()
    return alert_id


def test_sign_in_works_under_the_policy_sign_out_and_read_the_journal(store_kit, serve, strict_page, browser,
                                                                     inventory, artifacts, wait):
    page = strict_page
    alert_id = _one_alert(store_kit, inventory)
    with serve(store_kit, stale_after_s=3600) as server:
        accounts = server.app.server.config["VIGIE_ROOM"].guard.accounts
        accounts.add_user("anne", "operator", PASSWORD, by="test")
        accounts.add_user("sam", "supervisor", PASSWORD, by="test")

        page.goto(server.url + "/")
        page.wait_for_selector("form input[name=password]")
        assert page.url.startswith(server.url + "/login?next=")
        page.fill("#user", "anne")
        page.fill("#password", "wrong password")
        page.click("button[type=submit]")
        page.wait_for_selector(".login-error")
        assert "incorrect" in page.inner_text(".login-error")
        page.screenshot(path=str(artifacts / "access-01-login-refused.png"))
        page.fill("#user", "anne")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".vigie-cluster", timeout=30_000)
        page.wait_for_selector(f".ag-row[row-id='{alert_id}']", timeout=15_000)
        assert "anne" in page.inner_text(".user-badge") and "opérateur" in page.inner_text(".user-badge")
        assert page.locator(".nav-manager").count() == 0  # an operator has no contract page
        page.locator(f".ag-row[row-id='{alert_id}'] input").first.check()
        page.click("#action-ack")
        assert wait(lambda: store_kit.store.alert(alert_id)["state"] == "acknowledged")
        assert store_kit.store.alert(alert_id)["acknowledged_by"] == "anne"
        page.screenshot(path=str(artifacts / "access-02-room-signed-in.png"))
        assert not page.errors, page.errors  # nothing blocked by the policy, no script error

        page.click(".btn-logout")
        page.wait_for_selector("form input[name=password]")
        assert page.request.get(server.url + "/_dash-layout").status == 401

        page.fill("#user", "sam")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".nav-journal", timeout=30_000)
        page.click(".nav-journal")
        page.wait_for_selector("#audit-grid .ag-row", timeout=15_000)
        page.fill("#audit-actor", "anne")
        page.press("#audit-actor", "Enter")
        page.wait_for_selector("#audit-grid .ag-row >> text=alert.acknowledge", timeout=15_000)
        text = page.inner_text("#audit-grid")
        assert "login.failed" in text and "login.ok" in text and "logout" in text
        page.screenshot(path=str(artifacts / "access-03-journal.png"))
        assert not page.errors, page.errors


def test_a_manager_browses_the_room_without_a_single_refusal(store_kit, serve, strict_page, inventory):
    """Read-only roles never fire a callback they may not: the buttons are not there, nothing is denied."""
    page = strict_page
    alert_id = _one_alert(store_kit, inventory)
    with serve(store_kit, stale_after_s=3600) as server:
        server.sign_in(page, "manager", "max")
        page.goto(server.url + "/")
        page.wait_for_selector(f".ag-row[row-id='{alert_id}']", timeout=30_000)
        assert page.locator("#action-ack").count() == 0 and page.locator("#cmd-send").count() == 0
        page.locator(f".ag-center-cols-container .ag-row[row-id='{alert_id}'] .ag-cell").nth(2).click()
        page.wait_for_selector(".asset-panel .asset-name", timeout=15_000)
        page.click(".nav-manager")
        page.wait_for_selector(".manager-pane.pane-mounted", timeout=30_000)
        page.click(".nav-operator")
        page.wait_for_timeout(3000)  # a few ticks of every interval
        denied = [r for r in store_kit.store.audit(actor="max") if r["action"] == "denied"]
        assert not denied, denied
        assert not page.errors, page.errors
