"""A real LNbits with this extension, driven by headless Chromium (Playwright).

    async with BrowserSite() as site:
        operator = await site.new_account("op")
        await site.api("POST", f"{API}/machines", account=operator, body={...})
        page = await site.page_for(operator)
        await page.goto(f"{site.url}/satmachineadmin/")
        await site.screenshot(page, "operator-dashboard")
        assert page.console_errors == []

``BrowserSite`` starts an embedded relay (tests/support/relays.py), an LNbits in a
subprocess on SQLite (tests/support/lnbits_process.py), claims the first install as the
super user (``site.super``, who has the extension enabled and whose relay list is
the embedded relay), and launches Chromium. Test modules use the module-scoped
``site`` fixture:

    from browser_site import site, skip_or_fail_without_browser  # noqa: F401

    pytestmark = [pytest.mark.browser, pytest.mark.slow]
    skip_or_fail_without_browser(module=True)  # before importing playwright
    from playwright.async_api import expect  # noqa: E402

The browser is Debian's ``chromium`` (Playwright cannot download its own here). When
it or Playwright is missing the tests are skipped, or fail when
SATMACHINEADMIN_REQUIRE_BROWSER=1 (CI). Screenshots go to tests/artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
import pytest_asyncio
from lnbits_process import EXT_ID, LnbitsProcess
from relays import RelayProcess
from super_config import SuperConfigSetter

if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        Page,
        Playwright,
        Route,
    )

    class BrowserPage(Page):
        """A Playwright page that records its console errors (typing only)."""

        console_errors: list[str]


API = f"/{EXT_ID}/api/v1"
CHROMIUM = os.environ.get("SATMACHINEADMIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_ENV = "SATMACHINEADMIN_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
SUPER_USERNAME = "superuser"
SUPER_PASSWORD = "super-password-1"
USER_PASSWORD = "user-password-1"
# Two cores shared with other work: LNbits' first page load compiles a lot of JS.
TIMEOUT_MS = 30_000


class ApiError(AssertionError):
    """An API answer with a status the caller did not expect."""


@dataclass
class Account:
    username: str
    password: str
    token: str
    id: str = ""
    wallets: list[dict] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def wallet_id(self) -> str:
        return self.wallets[0]["id"]


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make .venv/.installed)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (make browser, or apt-get install chromium)"
    return None


def skip_or_fail_without_browser(*, module: bool = False) -> None:
    """Skip the test (the whole module when ``module``, for a call at import, before
    the module imports Playwright) when the browser cannot run here; fail instead
    when SATMACHINEADMIN_REQUIRE_BROWSER=1."""
    reason = browser_unavailable()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


class BrowserSite:
    def __init__(self) -> None:
        self.relay = RelayProcess("embedded")
        self.lnbits = LnbitsProcess(name="browser")
        self._http: httpx.AsyncClient | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: list[BrowserContext] = []
        self.super: Account = cast(Account, None)

    @property
    def url(self) -> str:
        return self.lnbits.url

    @property
    def relay_url(self) -> str:
        return self.relay.url

    # --- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> BrowserSite:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        reason = browser_unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        await self.relay.start()
        await self.lnbits.start()
        self._http = httpx.AsyncClient(base_url=self.url, timeout=30.0)
        self.super = await self._first_install()
        # The RPC server follows this list: a relay that is really there.
        await self.api(
            "PUT",
            f"{API}/super/config",
            account=self.super,
            body={"relays": [self.relay_url], "local_only": True},
        )

        from playwright.async_api import async_playwright, expect

        # What a page shows is waited for as long as its actions are (Playwright's
        # assertions give up after 5 s otherwise, which a loaded machine passed).
        expect.set_options(timeout=TIMEOUT_MS)
        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Playwright gives the browser a fresh profile of its own.
            args=CHROMIUM_ARGS,
        )

    async def close(self) -> None:
        for context in self._contexts:
            with contextlib.suppress(Exception):
                await context.close()
        self._contexts.clear()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self.lnbits.close()
        await self.relay.close()

    # --- accounts and the API ---------------------------------------------------------

    async def api(
        self,
        method: str,
        path: str,
        *,
        account: Account | None = None,
        body: Any = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        """One request as ``account`` (None: anonymous); the JSON answer, or the text
        of an answer that is not JSON (a CSV)."""
        assert self._http is not None, "the site is not running"
        headers = {"Authorization": f"Bearer {account.token}"} if account else {}
        response = await self._http.request(method, path, json=body, headers=headers)
        # Auth answers set a session cookie: drop it, every call says who makes it.
        self._http.cookies.clear()
        if response.status_code not in expect:
            raise ApiError(
                f"{method} {path} → {response.status_code} (expected {expect}): "
                f"{response.text[:1000]}"
            )
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def refresh(self, account: Account) -> Account:
        """Reloads the account's id, wallets and enabled extensions."""
        me = await self.api("GET", "/api/v1/auth", account=account)
        account.id = me["id"]
        account.wallets = me["wallets"]
        account.extensions = me.get("extensions") or []
        return account

    async def _first_install(self) -> Account:
        answer = await self.api(
            "PUT",
            "/api/v1/auth/first_install",
            body={
                "username": SUPER_USERNAME,
                "password": SUPER_PASSWORD,
                "password_repeat": SUPER_PASSWORD,
            },
        )
        account = Account(SUPER_USERNAME, SUPER_PASSWORD, answer["access_token"])
        await self.api("PUT", f"/api/v1/extension/{EXT_ID}/enable", account=account)
        await self.refresh(account)
        if EXT_ID not in account.extensions:
            raise RuntimeError(f"{EXT_ID} is not enabled for the super user")
        return account

    async def new_account(self, prefix: str) -> Account:
        """A registered user; the extension is on for new accounts
        (LNBITS_USER_DEFAULT_EXTENSIONS, set by LnbitsProcess)."""
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        answer = await self.api(
            "POST",
            "/api/v1/auth/register",
            body={
                "username": username,
                "password": USER_PASSWORD,
                "password_repeat": USER_PASSWORD,
            },
        )
        account = await self.refresh(
            Account(username, USER_PASSWORD, answer["access_token"])
        )
        if EXT_ID not in account.extensions:
            raise RuntimeError(
                f"{EXT_ID} is not enabled for a new account: {account.extensions}"
            )
        return account

    async def add_machine(self, account: Account, body: dict) -> dict:
        """Adds a machine by npub as ``account``, then confirms it from a simulated
        ATM over the site's relay (``pair`` with the one-time token), as a real
        ATM does; returns the bound machine."""
        from nostr_sdk import Keys

        keys = Keys.generate()
        expected = await self.api(
            "POST",
            f"{API}/machines",
            account=account,
            body={**body, "npub": keys.public_key().to_bech32()},
        )
        await self.machine_confirms(keys.secret_key().to_hex(), expected["seed_url"])
        [machine] = [
            m
            for m in await self.api("GET", f"{API}/machines", account=account)
            if m["npub"] == keys.public_key().to_bech32()
        ]
        return machine

    async def machine_confirms(self, secret_key_hex: str, seed_url: str) -> dict:
        """The machine with this key redeems the seed URL's token over the relay."""
        from helpers import load_simulator

        atm, token = load_simulator().BitspireSimulator.from_seed_url(
            seed_url, secret_key=secret_key_hex, timeout=30.0, log=lambda _: None
        )
        async with atm:
            return await atm.pair(token)

    async def enrol_lp(
        self, operator: Account, lp: Account, fiat_code: str = "GTQ"
    ) -> dict:
        """Enrols ``lp`` with their consent: the code the LP makes, given to the
        operator."""
        made = await self.api("POST", f"{API}/lp/code", account=lp, body={})
        return await self.api(
            "POST",
            f"{API}/lps",
            account=operator,
            body={"code": made["code"], "fiat_code": fiat_code},
        )

    async def confirmed_deposit(
        self, operator: Account, enrolment_id: str, fiat_amount: str
    ) -> dict:
        """A deposit the operator records for an LP and confirms."""
        deposit = await self.record_deposit(operator, enrolment_id, fiat_amount)
        await self.api(
            "PUT", f"{API}/deposits/{deposit['id']}/confirm", account=operator
        )
        return deposit

    async def record_deposit(
        self, operator: Account, enrolment_id: str, fiat_amount: str
    ) -> dict:
        return await self.api(
            "POST",
            f"{API}/lps/{enrolment_id}/deposits",
            account=operator,
            body={"fiat_amount": fiat_amount},
        )

    # --- the browser ------------------------------------------------------------------

    async def page_for(
        self, account: Account | None, *, login_form: bool = False
    ) -> BrowserPage:
        """A page in a browser context of its own, logged in as ``account`` (None:
        anonymous): by LNbits' login form when ``login_form``, else by the session
        cookies LNbits' login sets. ``page.console_errors`` collects console errors
        and uncaught exceptions."""
        assert self._browser is not None, "the site is not running"
        context = await self._browser.new_context(
            viewport={"width": 1366, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        # LNbits' "save your credentials" dialog covers every page of a browser that
        # has not acknowledged it yet (Quasar LocalStorage, a boolean stored as
        # "__q_bool|1"): this browser has, as a returning user's would.
        await context.add_init_script(
            "if (!localStorage.getItem('lnbits.disclaimerShown'))"
            " localStorage.setItem('lnbits.disclaimerShown', '__q_bool|1')"
        )
        self._contexts.append(context)
        if account is not None and not login_form:
            await context.add_cookies(
                [
                    {
                        "name": "cookie_access_token",
                        "value": account.token,
                        "url": self.url,
                        "httpOnly": True,
                        "sameSite": "Lax",
                    },
                    {
                        "name": "is_lnbits_user_authorized",
                        "value": "true",
                        "url": self.url,
                        "sameSite": "Lax",
                    },
                ]
            )
        page = cast("BrowserPage", await context.new_page())
        errors: list[str] = []
        page.console_errors = errors

        routes_probe = f"{self.url}/{EXT_ID}/static/routes.json"

        def on_console(message: Any) -> None:
            if message.type == "error":
                location = message.location or {}
                # LNbits' router (static/js/init-app.js, DynamicComponent) asks
                # every extension for /<ext>/static/routes.json to find Vue-router
                # pages; a server-rendered extension has none, and its 404 is how
                # LNbits learns to load the page from the server instead (an empty
                # routes.json would leave in-app navigation to it blank). Chromium
                # logs that 404 as a console error: that one message is expected.
                if (
                    location.get("url") == routes_probe
                    and "status of 404" in message.text
                ):
                    return
                errors.append(
                    f"console.error: {message.text} "
                    f"({location.get('url', '?')}:{location.get('lineNumber', '?')})"
                )

        page.on("console", on_console)

        def on_page_error(error: Any) -> None:
            # LNbits 1.6.2's sidebar (lnbits-manage-wallet-list.js,
            # onWebsocketMessage) compares each payment with g.wallet.id, and
            # g.wallet is null on every page that is not a wallet's, extension
            # pages included: each payment into one of the user's wallets throws
            # there. Ours pay into the operator's wallets, so that exact
            # exception is expected; any other is collected.
            stack = getattr(error, "stack", "") or ""
            if "reading 'id'" in str(error) and "at Proxy.onWebsocketMessage" in stack:
                return
            errors.append(f"pageerror: {error}")

        page.on("pageerror", on_page_error)
        if account is not None and login_form:
            await self.log_in(page, account)
        return page

    async def log_in(self, page: Page, account: Account) -> None:
        """LNbits' own login form on its home page, as a person uses it."""
        await page.goto(f"{self.url}/")
        form = page.locator("form").filter(has=page.get_by_label("Password"))
        await form.get_by_label("Username or Email").fill(account.username)
        await form.get_by_label("Password").fill(account.password)
        await form.get_by_role("button", name="Login").click()
        await page.wait_for_url("**/wallet/**")

    def super_config(self) -> SuperConfigSetter:
        """Sets this LNbits' super config as its super user (and puts it back)."""
        assert self._http is not None, "the site is not running"
        return SuperConfigSetter(self._http, self.super)

    async def screenshot(self, page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


_UNTRANSLATED_FILE = Path(__file__).with_name("untranslated.js")
# The function itself, without the file's leading comment.
UNTRANSLATED = (
    "language =>" + _UNTRANSLATED_FILE.read_text().split("\nlanguage =>", 1)[1]
)


async def set_language(page: Page, language: str) -> None:
    """LNbits' language switch as it stores the choice (Quasar LocalStorage,
    lnbits.lang): the pages opened next in this browser context use it."""
    await page.context.add_init_script(
        f"localStorage.setItem('lnbits.lang', '__q_strn|{language}')"
    )


async def untranslated(page: Page, language: str = "es") -> list[str]:
    """What the extension shows on ``page`` in English although ``language``
    has its own words for it (tests/support/untranslated.js)."""
    await page.wait_for_load_state("networkidle")
    found = await page.evaluate(UNTRANSLATED, language)
    return [
        f"{item['text']!r} is {item['key']} ({item['english']!r})" for item in found
    ]


# Far beyond any test's waits: with its polls this slow, a page fetches again only
# when a notice over the websocket tells it to.
NO_POLLS = "window.SatMachinePolling = {min: 600000, max: 600000, pushed: 600000}"


@dataclass
class NoticeOnlyPage:
    """An operator's page that refetches on notices only: ``daily`` collects its
    answers of ``/stats/daily``, the last thing a refetch asks for."""

    page: BrowserPage
    channel: str  # the account's push channel, which the page listens on
    daily: list[str] = field(default_factory=list)

    async def caught_up(self, timeout_s: float = 30.0) -> None:
        """Waits for the page's second daily figures: one asked for as it
        loads, one more when its socket opens (to catch up). After that only a
        notice makes it fetch again."""
        for _ in range(int(timeout_s / 0.25)):
            if len(self.daily) >= 2:
                return
            await self.page.wait_for_timeout(250)
        raise AssertionError(f"the page did not catch up on open: {self.daily}")


async def notice_only_page(site: BrowserSite, account: Account) -> NoticeOnlyPage:
    """A page of ``account``, not yet opened (route or listen first, then go)."""
    channel = (await site.api("GET", f"{API}/push/channel", account=account))["channel"]
    page = await site.page_for(account)
    await page.add_init_script(NO_POLLS)
    noticed = NoticeOnlyPage(page, channel)
    page.on(
        "response",
        lambda r: noticed.daily.append(r.url) if "/stats/daily" in r.url else None,
    )
    return noticed


async def held_back(page: Page, *url_globs: str) -> asyncio.Event:
    """Holds the page's requests to ``url_globs`` (Playwright globs) until the
    event returned is set: a slow answer, to see what the page does meanwhile."""
    may_come = asyncio.Event()

    async def hold(route: Route) -> None:
        await may_come.wait()
        await route.continue_()

    for url_glob in url_globs:
        await page.route(url_glob, hold)
    return may_come


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site() -> AsyncIterator[BrowserSite]:
    skip_or_fail_without_browser()
    async with BrowserSite() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def site_config(site) -> AsyncIterator[SuperConfigSetter]:
    """The site's super config, set for one test and put back after it."""
    setter = site.super_config()
    await setter.remember()
    yield setter
    await setter.restore()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site_config_for_module(site) -> AsyncIterator[SuperConfigSetter]:
    """``site_config`` for a whole module (its module-scoped fixtures)."""
    setter = site.super_config()
    await setter.remember()
    yield setter
    await setter.restore()
