"""Every visible string exists in French and English."""

from __future__ import annotations

from dashboard.i18n import DEFAULT_LANG, MESSAGES, normalise_lang, t


def test_every_message_has_both_languages():
    for key, pair in MESSAGES.items():
        assert len(pair) == 2 and all(isinstance(x, str) and x for x in pair), key


def test_french_is_the_default_and_formatting_works():
    assert DEFAULT_LANG == "fr" and normalise_lang("de") == "fr" and normalise_lang("en-GB") == "en"
    assert t("action.done", "en", action="Acknowledge", n=2) == "Acknowledge: 2 alert(s) done."
    assert t("tab.alerts") == "File d'alertes"
    assert t("no.such.key", "en") == "no.such.key"
