"""What every API router shares: domain errors as 4xx answers, the documented
refusals, and CSV downloads."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute

from ..calculations import CalculationError
from ..errors import SatMachineError
from ..models import ErrorDetail


class DomainErrorsAsHttp(APIRoute):
    """Turns the services' domain errors into 4xx answers with their message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SatMachineError as exc:
                raise HTTPException(exc.status, exc.message) from exc
            except CalculationError as exc:
                raise HTTPException(HTTPStatus.BAD_REQUEST, str(exc)) from exc

        return handle


# LNbits answers a malformed request with 400, not FastAPI's 422, and every refusal
# with {"detail": ...}: documenting 4XX says so and keeps FastAPI from listing a 422
# that never comes.
REFUSED = "Refused: `detail` says why."
REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorDetail, "description": REFUSED}
}
# A CSV download is refused in JSON all the same; FastAPI would document the model
# under the route's own media type, text/csv, so the content is spelled out.
CSV_REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": REFUSED,
        "content": {"application/json": {"schema": ErrorDetail.schema()}},
    }
}


def concern_router() -> APIRouter:
    """The routes of one concern; ``views_api.api`` adds the prefix and REFUSALS."""
    return APIRouter(route_class=DomainErrorsAsHttp)


class CsvResponse(Response):
    """A CSV download; as a route's response_class, the schema says text/csv."""

    media_type = "text/csv"


def csv_download(content: str, filename: str) -> CsvResponse:
    return CsvResponse(
        content=content,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
