"""JSON from the network, refused before the parser can be made to recurse.

``json.loads`` recurses once per nested list or object: a 64 KB message of
brackets raises RecursionError (not a ValueError, so it escapes the usual
"not JSON" handling), and a structure just under the interpreter's limit makes
every later walk over it (pydantic, ``json.dumps``) fail the same way. So the
brackets are counted first (a C-speed pass), the parser's own RecursionError is
turned into a ValueError, and the depth of what it built is measured, which
costs at most one step per counted bracket.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 16
MAX_CONTAINERS = 1024


class JsonTooComplex(ValueError):
    """Nested too deeply, or with too many lists and objects."""


def _deeper_than(data: Any, max_depth: int) -> bool:
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    return True
                pending.append((child, depth + 1))
    return False


def loads(
    text: str, *, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS
) -> Any:
    """``json.loads`` for untrusted text; every failure is a ValueError.

    Brackets inside strings count too: a document that needs more than
    ``max_containers`` of them is not one this server was meant to read.
    """
    brackets = text.count("[") + text.count("{")
    if brackets > max_containers:
        raise JsonTooComplex(f"made of more than {max_containers} lists and objects")
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise JsonTooComplex(f"nested more than {max_depth} levels deep") from exc
    if (
        brackets > max_depth
        and isinstance(data, dict | list)
        and _deeper_than(data, max_depth)
    ):
        raise JsonTooComplex(f"nested more than {max_depth} levels deep")
    return data
