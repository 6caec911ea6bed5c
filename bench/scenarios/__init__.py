"""The benchmark's phases, one module per figure of bench/README.md:

- ``micro``: 1 (NIP-44) and 5 (distribution math), in a process of their own
- ``rpc``: 2, the RPC round trip; ``relay`` takes it apart (the relay alone, and
  PyPI's nostr-relay instead); ``rpc_flood`` is its row under a flood
- ``end_to_end``: 3, cash-outs to paid legs (``cash_outs`` drives and times them);
  ``withdraw``: 3, a cash-in by LNURL-withdraw from create_withdraw to paid
- ``floor``: 4, bare LNbits payments and the pipeline's share of them
- ``settlement_list``: 6, the settlement list over 100 000 stored settlements
"""
