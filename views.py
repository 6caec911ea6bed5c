"""HTML pages, served to logged-in LNbits users."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from lnbits.core.models import Account, User
from lnbits.decorators import check_super_user, check_user_exists
from lnbits.helpers import template_renderer

pages = APIRouter()


def _renderer():
    return template_renderer(["satmachineadmin/templates"])


@pages.get("/", response_class=HTMLResponse)
async def index(request: Request, user: User = Depends(check_user_exists)):
    return _renderer().TemplateResponse(
        request,
        "satmachineadmin/index.html",
        {"user": user.json()},
    )


@pages.get("/super", response_class=HTMLResponse)
async def super_page(
    request: Request,
    user: User = Depends(check_user_exists),
    _: Account = Depends(check_super_user),
):
    """The platform settings: the instance's super user only (403 for others)."""
    return _renderer().TemplateResponse(
        request,
        "satmachineadmin/super.html",
        {"user": user.json()},
    )


@pages.get("/lp", response_class=HTMLResponse)
async def lp_page(request: Request, user: User = Depends(check_user_exists)):
    """A liquidity provider's balances, distributions and forwarding."""
    return _renderer().TemplateResponse(
        request,
        "satmachineadmin/lp.html",
        {"user": user.json()},
    )
