"""Which relay URLs the super user can save: a connection must be possible to
the host and port they name, so that the relay status never shows a library's
exception for a URL nobody could reach."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from satmachineadmin.models import SuperConfigUpdate


@pytest.mark.parametrize(
    "url",
    [
        "wss://relay.example.com",
        "ws://127.0.0.1:7777",
        "ws://[::1]:7777",
        "ws://relay:7777",
        "wss://relé.example.com/path",
        "wss://" + "a" * 63 + ".com",
    ],
)
def test_a_reachable_relay_url_is_saved(url):
    assert SuperConfigUpdate.parse_obj({"relays": [url]}).relays == [url]


@pytest.mark.parametrize(
    "url",
    [
        "wss://" + "a" * 300 + ".com",  # a label over 63 characters
        "wss://" + ".".join(["abcdefghij"] * 30),  # a name over 253
        "wss://relay..example.com",  # an empty label
        "ws://relay.example.com:99999",  # no such port
        "ws://relay.example.com:port",
    ],
)
def test_a_host_or_port_nobody_can_connect_to_is_refused_in_words(url):
    with pytest.raises(ValidationError) as refused:
        SuperConfigUpdate.parse_obj({"relays": [url]})
    assert "host name or port cannot be connected to" in str(refused.value)
