"""The report: its rows as they are measured (printed at once), the table at the
end, the JSON in bench/results/, and the facts of the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import harness
from measure import fmt_ms

RESULTS = harness.BENCH_DIR / "results"


@dataclass
class Row:
    section: str
    name: str
    db: str
    result: str
    target: str = ""
    verdict: str = ""  # PASS, FAIL, SKIP, ERROR or "" (information)
    data: dict[str, Any] = field(default_factory=dict)


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.meta: dict[str, Any] = {}

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        mark = f" [{row.verdict}]" if row.verdict else ""
        print(
            f"  {row.section:>2} {row.name} ({row.db}): {row.result}{mark}", flush=True
        )
        return row

    def latency(
        self, section: str, name: str, db: str, summary: dict[str, float]
    ) -> Row:
        """An information row of one latency distribution, its figures as data."""
        return self.add(Row(section, name, db, fmt_ms(summary), data=summary))

    def error(self, section: str, name: str, db: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        self.add(
            Row(
                section,
                name,
                db,
                text,
                verdict="ERROR",
                data={"traceback": traceback.format_exc()},
            )
        )

    def skip(self, section: str, name: str, db: str, why: str) -> None:
        self.add(Row(section, name, db, f"skipped: {why}", verdict="SKIP"))

    def table(self) -> str:
        header = ("#", "benchmark", "db", "result", "target", "")
        lines = [header] + [
            (r.section, r.name, r.db, r.result, r.target, r.verdict) for r in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

        def render(line: tuple[str, ...]) -> str:
            return "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            ).rstrip()

        rule = "  ".join("-" * width for width in widths)
        return "\n".join(
            [render(lines[0]), rule, *(render(line) for line in lines[1:])]
        )

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        document = {
            "meta": self.meta,
            "rows": [vars(row) for row in self.rows],
            "table": self.table(),
        }
        text = json.dumps(document, indent=2, default=str)
        path = RESULTS / f"{stamp}.json"
        path.write_text(text)
        (RESULTS / "latest.json").write_text(text)
        return path


def _output(*cmd: str) -> str:
    try:
        return subprocess.run(  # noqa: S603
            cmd, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor()
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def machine_facts() -> dict[str, Any]:
    repo = str(harness.REPO_ROOT)
    return {
        "nproc": os.cpu_count(),
        "free_h": _output("free", "-h"),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "lnbits": harness.lnbits_version(),
        "nostr_sdk": _version("nostr-sdk"),
        "platform": platform.platform(),
        "git": _output("git", "-C", repo, "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_output("git", "-C", repo, "status", "--porcelain")),
        "loadavg_start": os.getloadavg(),
        # What else kept this machine busy when the run started.
        "busiest_processes_at_start": [
            line[:100]
            for line in _output(
                "ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"
            ).splitlines()[1:6]
        ],
    }


def filesystem(path: Path) -> str:
    """The device and file system type ``path`` is on (where the databases are)."""
    try:
        out = subprocess.run(  # noqa: S603
            ["df", "--output=source,fstype", str(path)],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.split()
        return " ".join(out[-2:])
    except (OSError, subprocess.TimeoutExpired):
        return "?"
