"""Every visible string exists in French and English."""

from __future__ import annotations

from dashboard.i18n import DEFAULT_LANG, MESSAGES, alert_title, normalise_lang, t


def test_every_message_has_both_languages():
    for key, pair in MESSAGES.items():
        assert len(pair) == 2 and all(isinstance(x, str) and x for x in pair), key


def test_french_is_the_default_and_formatting_works():
    assert DEFAULT_LANG == "fr" and normalise_lang("de") == "fr" and normalise_lang("en-GB") == "en"
    assert t("action.done", "en", action="Acknowledge", n=2) == "Acknowledge: 2 alert(s) done."
    assert t("tab.alerts") == "File d'alertes"
    assert t("no.such.key", "en") == "no.such.key"


def test_alert_titles_follow_the_rule_in_the_operator_language():
    assert alert_title("cabinet_supply_loss", "false", "Control cabinet supply loss", "fr") == "Armoire hors tension"
    assert alert_title("citizen_report", "pothole", "Report: pothole", "fr") == "Signalement: nid-de-poule"
    assert alert_title("citizen_report", "pothole", "Report: pothole", "en") == "Report: pothole"
    assert alert_title("some_new_rule", None, "As stored", "fr") == "As stored"


def test_every_processor_rule_has_a_title():
    from streams.rules import load_rules

    rules = load_rules()
    for rule_id in rules.rule_ids():
        assert f"rule.{rule_id}" in MESSAGES, rule_id
