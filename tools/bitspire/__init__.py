"""The bitSpire ATM simulator's parts; ``tools/bitspire_sim.py`` is its command and
the names it exports are the library.

Like the ATM it stands for, the package is built from the contract alone
(``bitspire-rpc-v1.md``, ``docs/PROTOCOL.md``): it imports nothing from this
repository and does its Nostr work with rust-nostr's ``nostr_sdk``.

- ``protocol``: event kinds, the protocol version, ``RpcError``
- ``amounts``: sats from fiat, rate and fee, as the machine computes them
- ``seed_url``: the pairing seed URL an operator shows the machine
- ``client``: the relay connection, request events and ``call`` with retries
- ``simulator``: ``BitspireSimulator``, the client plus the customer flows
- ``lnbits``: a customer's LNbits wallet paying or invoicing for the machine, and
  an LNURL wallet withdrawing from the machine's QR code (LUD-03)
- ``cli``: the command line of ``tools/bitspire_sim.py``
"""
