"""The websocket channel a page listens on for notices of change."""

from __future__ import annotations

from .base import ApiModel


class PushChannel(ApiModel):
    """The caller's own channel on LNbits' websocket, ``/api/v1/ws/<channel>``.
    Notices on it say only which areas changed (``{"changed": ["settlements"]}``);
    the page refetches them. Keep the id private: anyone who has it may listen."""

    channel: str
