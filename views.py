"""HTML pages, served to logged-in LNbits users."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from lnbits.core.models import Account, User
from lnbits.decorators import check_super_user, check_user_exists
from lnbits.helpers import template_renderer

pages = APIRouter()


def _page(request: Request, user: User, template: str) -> HTMLResponse:
    return template_renderer(["satmachineadmin/templates"]).TemplateResponse(
        request, f"satmachineadmin/{template}", {"user": user.json()}
    )


@pages.get("/", response_class=HTMLResponse)
async def index(request: Request, user: User = Depends(check_user_exists)):
    """The operator's dashboard."""
    return _page(request, user, "index.html")


@pages.get("/super", response_class=HTMLResponse)
async def super_page(
    request: Request,
    user: User = Depends(check_user_exists),
    _: Account = Depends(check_super_user),
):
    """The platform settings: the instance's super user only (403 for others)."""
    return _page(request, user, "super.html")


@pages.get("/lp", response_class=HTMLResponse)
async def lp_page(request: Request, user: User = Depends(check_user_exists)):
    """A liquidity provider's balances, distributions and forwarding."""
    return _page(request, user, "lp.html")
