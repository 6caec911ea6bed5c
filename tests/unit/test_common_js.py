"""The pages' shared formatting and amount parsing (static/js/common.js), run in
Node: amounts typed with a decimal comma or grouping reach the API as exact
decimal strings, and fiat and rates are grouped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from node import NODE, node_tests

COMMON_JS = Path(__file__).parents[2] / "static" / "js" / "common.js"

pytestmark = node_tests()


def run(expression: str, language: str = "en-US"):
    script = f"""
    global.window = {{}}
    global.navigator = {{language: {json.dumps(language)}}}
    global.LNbits = {{utils: {{formatSat: v => v.toLocaleString('en-US')}}}}
    require({json.dumps(str(COMMON_JS))})
    const S = window.SatMachine
    console.log(JSON.stringify({expression}))
    """
    done = subprocess.run(
        [NODE or "node", "-e", script], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("1,000.00", "1000.00"),
        ("1.000,00", "1000.00"),
        ("12,50", "12.50"),
        ("1 000,50", "1000.50"),
        ("1,000", "1000"),  # English: a thousand
        ("1000", "1000"),
        ("0,5", "0.5"),
        ("1,00,0", None),
        ("1.2.3", None),
        ("-5", None),
        ("abc", None),
        ("", None),
    ],
)
def test_amounts_in_the_users_own_marks(typed, sent):
    assert run(f"S.parseAmount({json.dumps(typed)})") == sent


def test_a_lone_three_digit_group_follows_the_locale():
    # Spanish (Spain) writes a thousand as 1.000; English reads it as one.
    assert run('S.parseAmount("1.000")', "en-US") == "1.000"
    assert run('S.parseAmount("1.000")', "es-ES") == "1000"


def test_fiat_and_rates_are_grouped_in_the_currency_s_decimals():
    assert run(
        "[S.format.fiat('1000.00', 'GTQ'), S.format.fiat('5', 'JPY'),"
        " S.format.rate('650000.00'), S.format.rate('500000.50'),"
        " S.format.direction('cash_out')]"
    ) == ["1,000.00 GTQ", "5 JPY", "650,000", "500,000.5", "cash-out"]
