"""REST API: authenticate, validate, delegate to ``services``.

Who may call what: the super user (``check_super_user``) owns the platform fee; any
LNbits user with the extension enabled is an operator of their own objects and an
LP of whatever operators enrolled them. Another operator's object is "not found".

One module per role or concern; ``api`` joins their routers in this order, which
is the order of the published OpenAPI document (and, for paths that overlap, the
order FastAPI matches them in).
"""

from fastapi import APIRouter

from . import (
    alerts,
    fees,
    fleet,
    lp,
    lps,
    machines,
    payout_plans,
    push,
    settlements,
    splits,
    super_user,
)
from .routing import REFUSALS, DomainErrorsAsHttp

api = APIRouter(prefix="/api/v1", route_class=DomainErrorsAsHttp, responses=REFUSALS)
for concern in (
    super_user,
    machines,
    fees,
    fleet,
    alerts,
    splits,
    settlements,
    lps,
    payout_plans,
    lp,
    push,
):
    api.include_router(concern.router)

__all__ = ["api"]
