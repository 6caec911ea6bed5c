from fastapi import APIRouter

from .database import db

satmachineadmin_ext: APIRouter = APIRouter(
    prefix="/satmachineadmin", tags=["satmachineadmin"]
)

__all__ = ["db", "satmachineadmin_ext"]
