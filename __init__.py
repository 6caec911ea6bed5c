from fastapi import APIRouter

from . import database, tasks
from .database import db
from .views import pages
from .views_api import api
from .views_lnurl import lnurl_router

satmachineadmin_ext: APIRouter = APIRouter(
    prefix="/satmachineadmin", tags=["satmachineadmin"]
)
satmachineadmin_ext.include_router(pages)
satmachineadmin_ext.include_router(api)
satmachineadmin_ext.include_router(lnurl_router)

satmachineadmin_static_files = [
    {"path": "/satmachineadmin/static", "name": "satmachineadmin_static"}
]


def satmachineadmin_start() -> None:
    tasks.start()


async def satmachineadmin_stop() -> None:
    try:
        await tasks.stop()
    finally:
        await database.close()


__all__ = [
    "db",
    "satmachineadmin_ext",
    "satmachineadmin_start",
    "satmachineadmin_static_files",
    "satmachineadmin_stop",
]
