"""Summarises py-spy raw (collapsed) stacks written by ``run.py --profile DIR``.

    python bench/profile_summary.py DIR/sqlite-throughput.txt [--top 30] [--match S]

For each function: the share of all samples with it on the stack (inclusive) and
at the top of the stack (self), per thread kind (the event loop's main thread,
aiosqlite's connection threads, others). py-spy samples only threads that are
running (without ``--idle``), so the shares are of CPU time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"


def _thread_kind(root: str, frames: list[str]) -> str:
    if any("_connection_worker_thread" in f for f in frames):
        return "aiosqlite thread"
    if any("asyncio" in f or "uvicorn" in f or "floor.py" in f for f in frames):
        return "main (event loop)"
    return "other threads"


def summarise(path: Path, top: int, match: str | None) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        root, frames = frames[0], frames[1:]
        kinds[_thread_kind(root, frames)] += count
        total += count
        names = [_short(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        if names:
            own[names[-1]] += count
    if not total:
        return f"{path}: no samples"
    out = [f"{path.name}: {total} samples"]
    out += [f"  {n / total:6.1%}  {kind}" for kind, n in kinds.most_common()]
    out.append("inclusive (on the stack):")
    shown = 0
    for name, n in inclusive.most_common():
        if match and match not in name:
            continue
        out.append(f"  {n / total:6.1%}  {name}")
        shown += 1
        if shown >= top:
            break
    out.append("self (top of the stack):")
    out += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", help="only functions whose name contains this")
    args = parser.parse_args()
    for path in args.paths:
        print(summarise(path, args.top, args.match))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
