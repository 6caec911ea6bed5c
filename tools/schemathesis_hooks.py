"""Schemathesis hooks for tools/schemathesis_run.py, which loads this file through
SCHEMATHESIS_HOOKS. It runs inside Schemathesis' own venv (.venv-schemathesis)."""

from __future__ import annotations

from typing import Any

import schemathesis

# LNbits' other ways to say who calls, listed on every route that takes a user:
# ?usr=<user id> and its session cookie. The run authenticates with a bearer token
# instead. Fuzzed, they only test LNbits' login: a random usr is a 400 before the
# route is reached, so most requests would never reach the extension's code.
LNBITS_AUTH_PARAMETERS = {("query", "usr"), ("cookie", "cookie_access_token")}


def _own_parameters(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        parameter
        for parameter in parameters
        if (parameter.get("in"), parameter.get("name")) not in LNBITS_AUTH_PARAMETERS
    ]


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    for path_item in raw_schema.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = _own_parameters(operation["parameters"])
