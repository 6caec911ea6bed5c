"""The pages' English and Spanish strings (static/i18n/satmachineadmin.js), read in
Node: both languages have the same keys, none empty, the same {named} values,
nothing vue-i18n would read as its own syntax, and every key the templates,
scripts and components use is there."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from node import NODE, node_tests

ROOT = Path(__file__).parents[2]
DICTIONARY = ROOT / "static" / "i18n" / "satmachineadmin.js"
SOURCES = [
    *sorted((ROOT / "templates" / "satmachineadmin").rglob("*.html")),
    *sorted((ROOT / "static" / "js").glob("*.js")),
    *sorted((ROOT / "static" / "components").glob("*.js")),
]

pytestmark = node_tests()

# A key: lower-case words joined by "_", not ending in "_" (a prefix completed at
# run time, e.g. 'status_' + status, is not a key).
KEY = r"[a-z][a-z0-9_]*[a-z0-9]"
USES = [
    # $t('satmachineadmin.key') in templates, this.$t(`satmachineadmin.key`) in JS
    re.compile(rf"(?<![/\w])satmachineadmin\.({KEY})['\"`]"),
    # SatMachine.t('key', ...) and its local aliases
    re.compile(rf"(?<![\w.$])t\(\s*'({KEY})'"),
    # t(condition ? 'one_key' : 'other_key', ...)
    re.compile(rf"(?<![\w.$])t\([^()'\n]*\?\s*'({KEY})'\s*:\s*'({KEY})'"),
    # column and field definitions
    re.compile(rf"(?:labelKey|hintKey): '({KEY})'"),
]
# SatMachine.texts({...}): a component's texts by key (or [key, ...values]).
TEXTS_BLOCK = re.compile(r"texts\(\{(.*?)\n\s*\}\)", re.S)
TEXTS_KEY = re.compile(rf":\s*\[?'({KEY})'")
# Columns translated by their English label (SatMachine.translateColumns).
COLUMN_LABEL = re.compile(
    r"\{\s*name: '\w+',\s*label: '([^']+)'|^\s+label: '([^']+)',$", re.M
)
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What vue-i18n reads as its own syntax: linked messages (@), plural branches (|).
# A literal is written {'@'}.
SPECIAL = re.compile(r"[@|]")
LITERAL = re.compile(r"\{'[^']*'\}")


@cache
def messages() -> dict[str, dict[str, str]]:
    script = f"""
    global.window = {{}}
    require({json.dumps(str(DICTIONARY))})
    console.log(JSON.stringify(window.SatMachineMessages))
    """
    done = subprocess.run(
        [NODE or "node", "-e", script], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def used_keys() -> dict[str, set[str]]:
    """Every key a page, script or component names, with the files naming it."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        text = path.read_text()
        keys: set[str] = set()
        for pattern in USES:
            for match in pattern.finditer(text):
                keys.update(group for group in match.groups() if group)
        for block in TEXTS_BLOCK.findall(text):
            keys.update(TEXTS_KEY.findall(block))
        for key in keys:
            found.setdefault(key, set()).add(str(path.relative_to(ROOT)))
    return found


def test_english_and_spanish_have_the_same_keys():
    english, spanish = messages()["en"], messages()["es"]
    assert sorted(set(english) - set(spanish)) == []
    assert sorted(set(spanish) - set(english)) == []


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_value_is_empty(language):
    empty = [key for key, text in messages()[language].items() if not text.strip()]
    assert empty == []


def test_both_languages_fill_in_the_same_values():
    english, spanish = messages()["en"], messages()["es"]
    differ = {
        key: (english[key], spanish[key])
        for key in english
        if set(PLACEHOLDER.findall(english[key]))
        != set(PLACEHOLDER.findall(spanish.get(key, "")))
    }
    assert differ == {}


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_value_holds_vue_i18n_syntax_by_accident(language):
    # "name@domain" would show as "name": vue-i18n reads "@" as a linked message.
    wrong = {
        key: text
        for key, text in messages()[language].items()
        if SPECIAL.search(LITERAL.sub("", text))
    }
    assert wrong == {}


def test_every_key_the_pages_use_exists_in_both_languages():
    used = used_keys()
    assert len(used) > 300, "the pages' keys were not found: the patterns are stale"
    for language in ("en", "es"):
        missing = {
            key: sorted(files)
            for key, files in used.items()
            if key not in messages()[language]
        }
        assert missing == {}, language


@pytest.mark.parametrize("script", ["lp.js", "super.js"])
def test_columns_labelled_in_english_have_a_translation(script):
    text = (ROOT / "static" / "js" / script).read_text()
    labels = {a or b for a, b in COLUMN_LABEL.findall(text)}
    assert labels, "no column labels found: the pattern is stale"
    english = set(messages()["en"].values())
    assert sorted(labels - english) == []


def test_a_missing_key_is_found():
    # The check above must be able to fail: a key no language has is reported.
    assert "satmachineadmin.no_such_key" not in json.dumps(messages())
    pattern = USES[0]
    assert pattern.findall("$t('satmachineadmin.no_such_key')") == ["no_such_key"]
    assert pattern.findall("path='i18n/satmachineadmin.js'") == []
    assert pattern.findall("$t('satmachineadmin.status_' + status)") == []


def test_every_reason_the_rpc_server_drops_an_event_has_words():
    """The super page's relay status names why events were dropped: each reason
    the server counts (``self.dropped[...]``, the limits' constants) in words."""
    rpc = ROOT / "rpc"
    counted = set(
        re.findall(r'self\.dropped\["(\w+)"\]', (rpc / "server.py").read_text())
    )
    counted |= set(
        re.findall(
            r'^[A-Z_]+ = "(unknown_\w+)"$', (rpc / "limits.py").read_text(), re.M
        )
    )
    assert {"in_flight", "unknown_over_budget"} <= counted
    for language in ("en", "es"):
        missing = sorted(
            r for r in counted if f"dropped_{r}" not in messages()[language]
        )
        assert missing == [], (language, missing)
