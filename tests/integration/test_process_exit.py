"""LNbits with the extension running stops on a Ctrl-C.

The extension keeps its SQLite connection open between turns (``database.py``),
and LNbits does not stop its extensions when it shuts down, so nothing closes that
connection. On SIGINT uvicorn shuts down and Python exits normally, which waits
for every thread that is not a daemon: the connection's worker thread must be one.
(On SIGTERM uvicorn ends by raising the signal again, which waits for nothing.)
"""

from __future__ import annotations

import asyncio
import signal

from lnbits_process import LnbitsProcess


async def test_lnbits_exits_on_ctrl_c_with_the_extensions_connection_open():
    async with LnbitsProcess(name="exit") as lnbits:
        await asyncio.sleep(2)  # the RPC server reads its settings every second
        stopped = await lnbits.stop(timeout_s=30, sig=signal.SIGINT)
        assert stopped, lnbits.log_tail()
