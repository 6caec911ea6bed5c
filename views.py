"""HTML pages, served to logged-in LNbits users."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from lnbits.core.models import User
from lnbits.decorators import check_user_exists
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
