"""Domain errors the services raise; the API maps each to its HTTP status."""

from http import HTTPStatus


class SatMachineError(Exception):
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(SatMachineError):
    status = HTTPStatus.BAD_REQUEST


class NotFound(SatMachineError):
    status = HTTPStatus.NOT_FOUND


class Conflict(SatMachineError):
    status = HTTPStatus.CONFLICT
