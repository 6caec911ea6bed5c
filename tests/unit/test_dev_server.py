"""``make run`` (tools/dev_server.py): LNbits' base URL, on which LNURL-withdraw
links are built, follows the port the server is run on."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_dev_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "satmachineadmin_dev_server", REPO_ROOT / "tools" / "dev_server.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_base_url_is_where_lnbits_is_served_unless_the_user_set_one():
    dev_server = load_dev_server()
    assert dev_server.lnbits_base_url({}, "127.0.0.1", 5001) == "http://127.0.0.1:5001/"
    chosen = {"LNBITS_BASEURL": "https://atm.example.com/"}
    assert (
        dev_server.lnbits_base_url(chosen, "127.0.0.1", 5001)
        == "https://atm.example.com/"
    )


async def stored_base_url_after_start(stored: str, wanted: str) -> tuple[str, int]:
    """What LNbits' admin settings hold after ``use_base_url``, and how many
    changes it asked for."""
    dev_server = load_dev_server()
    patches: list[dict[str, str]] = []

    def admin_api(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/admin/api/v1/settings"
        if request.method == "PATCH":
            patches.append(json.loads(request.content))
            return httpx.Response(200, json={"status": "Success"})
        current = patches[-1]["lnbits_baseurl"] if patches else stored
        return httpx.Response(200, json={"lnbits_baseurl": current})

    transport = httpx.MockTransport(admin_api)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        await dev_server.use_base_url(http, {}, wanted)
    return (patches[-1]["lnbits_baseurl"] if patches else stored), len(patches)


async def test_an_earlier_runs_loopback_base_url_is_replaced():
    assert await stored_base_url_after_start(
        "http://127.0.0.1:5000/", "http://127.0.0.1:5001/"
    ) == ("http://127.0.0.1:5001/", 1)
    assert await stored_base_url_after_start(
        "http://localhost:5000/", "http://127.0.0.1:5001/"
    ) == ("http://127.0.0.1:5001/", 1)


async def test_a_base_url_the_super_user_set_elsewhere_stays():
    assert await stored_base_url_after_start(
        "https://atm.example.com/", "http://127.0.0.1:5001/"
    ) == ("https://atm.example.com/", 0)


async def test_nothing_is_written_when_the_base_url_is_right():
    assert await stored_base_url_after_start(
        "http://127.0.0.1:5001/", "http://127.0.0.1:5001/"
    ) == ("http://127.0.0.1:5001/", 0)
