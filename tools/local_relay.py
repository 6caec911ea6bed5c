"""Runs nostr-sdk's embedded, in-memory Nostr relay for development and tests.

    python tools/local_relay.py [--host 127.0.0.1] [--port 7777]

Prints ``relay listening on ws://HOST:PORT`` once the socket is bound and runs until
SIGTERM or SIGINT. The relay keeps events in memory only: a restart forgets them.

nostr-sdk 0.44 builds the relay as ``LocalRelay(RelayBuilder().addr(ip).port(n))``;
``await relay.run()`` binds the socket and returns at once, the relay then serves from
nostr-sdk's own threads until ``relay.shutdown()``. The host must be an IP address.
The builder's default rate limit answers the 61st event a minute on one connection
with ``OK false "rate-limited: slow down"``, too tight for a server that answers
every ATM request over one connection, so it is raised here.

nostr-sdk does not set ``TCP_NODELAY`` on the connections it accepts. The relay
writes ``OK`` to a publisher and, a moment later, the answer to that publisher's
request as two small frames; with Nagle's algorithm on, the second waits for the
client's delayed ACK of the first: ~40 ms added to every request/answer round trip
on Linux. Accepted sockets inherit ``TCP_NODELAY`` from the listening socket (Linux
and the BSDs), and the listener lives in this process, so it is set there once,
right after the relay has bound it.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import socket
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="IP address to bind")
    parser.add_argument("--port", type=int, default=7777, help="TCP port to bind")
    parser.add_argument(
        "--notes-per-minute",
        type=int,
        default=100_000,
        help="events a connection may publish per minute",
    )
    parser.add_argument(
        "--max-reqs",
        type=int,
        default=500,
        help="open subscriptions per connection",
    )
    args = parser.parse_args(argv)
    if args.host == "localhost":
        args.host = "127.0.0.1"
    try:
        ipaddress.ip_address(args.host)
    except ValueError:
        parser.error(f"--host must be an IP address, not {args.host!r}")
    if not 0 < args.port < 65536:
        parser.error("--port must be in 1..65535")
    return args


def _own_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no procfs: probe the usual range
        return list(range(3, 1024))


def set_listener_nodelay(host: str, port: int) -> bool:
    """Sets TCP_NODELAY on this process's listening socket bound to host:port (the
    relay's), so that every connection it accepts from now on has it too."""
    for fd in _own_fds():
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue  # not a socket, or already closed
        with sock:
            try:
                if sock.type != socket.SOCK_STREAM or sock.family not in (
                    socket.AF_INET,
                    socket.AF_INET6,
                ):
                    continue
                if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    continue
                bound = sock.getsockname()
                if bound[1] != port or ipaddress.ip_address(
                    bound[0]
                ) != ipaddress.ip_address(host):
                    continue
                # The option belongs to the socket, not to this duplicate fd.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return True
            except OSError:
                continue
    return False


async def serve(args: argparse.Namespace) -> int:
    # Imported here so that --help works without the Rust library loaded.
    from nostr_sdk import LocalRelay, RateLimit, RelayBuilder

    builder = (
        RelayBuilder()
        .addr(args.host)
        .port(args.port)
        .rate_limit(
            RateLimit(max_reqs=args.max_reqs, notes_per_minute=args.notes_per_minute)
        )
    )
    relay = LocalRelay(builder)
    try:
        await relay.run()
    except Exception as exc:  # nostr-sdk raises NostrSdkError.Generic on bind errors
        print(f"relay failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    if not set_listener_nodelay(args.host, args.port):
        print(
            "warning: could not set TCP_NODELAY on the relay's socket; "
            "round trips through it will be ~40 ms slower",
            file=sys.stderr,
            flush=True,
        )

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"relay listening on ws://{host}:{args.port}", flush=True)
    try:
        await stopping.wait()
    finally:
        relay.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
