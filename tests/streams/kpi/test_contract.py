"""The contract file: the bundled one loads, and every kind of mistake gets an error naming the key."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import yaml

from streams.contract import DEFAULT_CONTRACT, ContractError, load_contract, parse_contract


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(DEFAULT_CONTRACT.read_text(encoding="utf-8"))


def test_bundled_contract_loads_with_ondijon_terms():
    c = load_contract()
    assert c.start == dt.date(2018, 2, 1) and c.years == 12 and c.end == dt.date(2030, 2, 1)
    assert c.energy.target_saving_pct == 65.0
    assert dict(c.interventions.delays_h) == {"P1": 2.0, "P2": 24.0, "P3": 72.0}
    assert c.it.target_pct == 99.0
    assert {f.key: f.target_pct for f in c.families} == {"lighting": 98.0, "traffic_signals": 99.0, "cameras": 97.0}
    assert c.family("lighting").kinds == ("light",)
    assert "maintenance" in c.states.maintenance and "fault" in c.states.fault
    assert c.monthly_cap_eur > 0


def test_trajectory_lookup_before_during_and_after():
    e = load_contract().energy
    assert e.target_for_year(2017) == 0.0
    assert e.target_for_year(2018) == 10.0
    assert e.target_for_year(2020) == 45.0
    assert e.target_for_year(2031) == 65.0


def test_contract_is_frozen():
    c = load_contract()
    with pytest.raises(Exception):
        c.years = 3
    with pytest.raises(TypeError):
        c.interventions.delays_h["P1"] = 10


def _broken(raw: dict, path: str, value) -> dict:
    data = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key) if key.isdigit() and int(key) in node else key]
    key = int(last) if last.isdigit() and int(last) in node else last
    if value is _DELETE:
        del node[key]
    else:
        node[key] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("path, value, expected", [
    ("energy.target_saving_pct", _DELETE, "energy.target_saving_pct: missing"),
    ("energy.target_saving_pct", "65 %", "energy.target_saving_pct: expected a percentage, got str"),
    ("energy.target_saving_pct", 165, "energy.target_saving_pct: 165 is out of range"),
    ("energy.trajectory_pct.2020", 20, "2020 (20) is below 2019 (30); the trajectory must not go down"),
    ("energy.trajectory_pct.2021", _DELETE, "year(s) 2021 missing"),
    ("energy.trajectory_pct.2029", 66, "ends at 66 in 2029; it must reach target_saving_pct (65)"),
    ("energy.trajectory_pct.2018", _DELETE, "must start in the contract's first year 2018"),
    ("energy.target_saving_pct", 70, "ends at 65 in 2029; it must reach target_saving_pct (70)"),
    ("energy.trajectory_pct.2020", -1, "energy.trajectory_pct.2020: -1 is out of range"),
    ("energy.trajectory_pct", [10, 20], "expected a mapping of year -> percentage"),
    ("interventions.delays_h.P1", 48, "P1 (48 h) is longer than P2 (24 h)"),
    ("interventions.delays_h.P2", 0, "interventions.delays_h.P2: 0 must be above 0"),
    ("interventions.delays_h.P4", 5, "expected exactly the priorities P1, P2, P3"),
    ("interventions.compliance_target_pct", True, "expected a percentage, got bool"),
    ("interventions.penalty_eur_per_late", 100, "expected a mapping P1/P2/P3 -> number"),
    ("interventions.delay_h", 3, "interventions: unknown key(s) delay_h"),
    ("it_availability.target_pct", 101, "it_availability.target_pct: 101 is out of range"),
    ("it_availability.feeds", [], "it_availability.feeds: expected a non-empty list"),
    ("availability.families.lighting.target_pct", 120, "availability.families.lighting.target_pct: 120"),
    ("availability.families.cameras.kinds", ["light"], "light is already in family lighting"),
    ("availability.families.cameras.kinds", ["drone"], "unknown name(s) drone"),
    ("availability.families.cameras.feeds", ["video.feed"], "video.feed not in it_availability.feeds"),
    ("availability.states.maintenance", ["maintenance", "fault"], "fault is both fault and maintenance"),
    ("contract.start", "first of February", "contract.start: expected a date like 2018-02-01"),
    ("contract.years", 0, "contract.years: expected a whole number of years between 1 and 50"),
    ("contract.timezone", "Europe/Dijon", "contract.timezone: unknown time zone"),
    ("contract.site.lat", 123, "contract.site.lat: 123 is out of range"),
    ("penalties", _DELETE, "penalties: missing"),
    ("penalties.monthly_cap_eur", -5, "penalties.monthly_cap_eur: -5 is out of range"),
    ("surprise", 1, "unknown top-level key(s) surprise"),
])
def test_mistakes_are_named(raw, path, value, expected):
    with pytest.raises(ContractError) as err:
        parse_contract(_broken(raw, path, value), source="contract.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("contract.yaml: ")


def test_not_a_contract_at_all(tmp_path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ContractError, match="list.yaml: expected a mapping at the top level, got list"):
        load_contract(listing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("energy: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContractError, match="bad.yaml: not valid YAML"):
        load_contract(bad)
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(ContractError, match="not a text file"):
        load_contract(binary)
    with pytest.raises(ContractError, match="no such contract file"):
        load_contract(tmp_path / "missing.yaml")


def test_a_file_with_another_purpose_is_refused(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\npriorities: {P1: {due_s: 7200}}\n", encoding="utf-8")
    with pytest.raises(ContractError, match="unknown top-level key"):
        load_contract(rules)
