"""Builds the release archive and the catalog LNbits installs it from.

    python tools/dist.py [--base-url URL] [--out dist] [--source DIR] [--add-to FILE]

Writes into ``--out`` (``dist/``):

- ``satmachineadmin-<version>.zip``: one top-level folder, ``satmachineadmin/``,
  holding only what runs in LNbits: the files git tracks in ``--source`` (the
  repository; untracked files never ship) minus tests, benchmarks, tools, docs,
  dependency lists and dot-files. Reproducible: sorted entries, one fixed
  timestamp, fixed permissions and no owner, so one commit always gives one sha256.
- ``satmachineadmin-<version>.json``: the release details LNbits' *More info*
  dialog reads (config.json with its relative links made absolute).
- ``description.md`` and the tile image, which those details point to.
- ``catalog.json``: an extension manifest in LNbits' explicit-release form, the
  file an admin adds under *Settings → Extensions sources*
  (``LNBITS_EXTENSIONS_MANIFESTS``); ``--add-to`` merges the new release into an
  existing catalog instead, so earlier versions stay installable.

``--base-url`` is where the files of ``--out`` will be served from; every link in
the catalog starts with it. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

EXT_ID = "satmachineadmin"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

# Not needed to run the extension: development, tests and packaging only.
EXCLUDED_TOP_DIRS = frozenset(
    {"bench", "data", "docs", "requirements", "test-artifacts", "tests", "tools"}
)
EXCLUDED_TOP_FILES = frozenset(
    {"Makefile", "manifest.json", "pyproject.toml", "requirements.txt"}
)
# The earliest time a zip entry can carry: the same for every build.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
UNIX = 3  # ZipInfo.create_system: the mode above is read by unzip tools


@dataclass(frozen=True)
class Release:
    version: str
    archive: Path
    sha256: str
    entry: dict


def is_shipped(path: str) -> bool:
    """Whether a tracked file (a POSIX path relative to the repository) runs."""
    parts = PurePosixPath(path).parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return False
    if len(parts) == 1:
        return parts[0] not in EXCLUDED_TOP_FILES and not path.endswith(".pyc")
    return parts[0] not in EXCLUDED_TOP_DIRS and not path.endswith(".pyc")


def tracked_files(source: Path) -> list[str]:
    """The files git tracks in ``source``, sorted; deleted ones left out."""
    listed = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z"],  # noqa: S607 (git from PATH)
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted(
        path for path in listed.split("\0") if path and (source / path).is_file()
    )


def shipped_files(source: Path) -> list[str]:
    return [path for path in tracked_files(source) if is_shipped(path)]


def write_archive(source: Path, files: list[str], archive: Path) -> None:
    """The zip of ``files`` under one ``satmachineadmin/`` folder, byte for byte
    the same for the same contents."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in files:
            info = zipfile.ZipInfo(f"{EXT_ID}/{path}", date_time=FIXED_DATE_TIME)
            info.create_system = UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, (source / path).read_bytes(), compresslevel=9)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_config(source: Path) -> dict:
    config = json.loads((source / "config.json").read_text())
    for key in ("version", "name", "short_description", "min_lnbits_version"):
        if not config.get(key):
            raise SystemExit(f"config.json has no {key}")
    return config


def absolute(base_url: str, link: str) -> str:
    if "://" in link:
        return link
    return f"{base_url}/{link.lstrip('/')}"


def write_details(source: Path, config: dict, out: Path, base_url: str) -> str:
    """The release details (config.json with absolute links), the description and
    the tile beside them; returns the details file's name."""
    details = dict(config)
    details["description_md"] = absolute(base_url, "description.md")
    tile = Path(config["tile"]).name
    details["images"] = [{"uri": absolute(base_url, tile)}]
    (out / "description.md").write_bytes((source / "description.md").read_bytes())
    (out / tile).write_bytes((source / "static" / "image" / tile).read_bytes())
    name = f"{EXT_ID}-{config['version']}.json"
    (out / name).write_text(json.dumps(details, indent=2) + "\n")
    return name


def catalog_entry(config: dict, base_url: str, archive: str, sha256: str) -> dict:
    """One explicit release, as LNbits' ExplicitRelease model reads it."""
    version = config["version"]
    return {
        "id": EXT_ID,
        "repo": config.get("repo") or base_url,
        "name": config["name"],
        "version": version,
        "short_description": config["short_description"],
        "icon": absolute(base_url, Path(config["tile"]).name),
        "archive": absolute(base_url, archive),
        "hash": sha256,
        "min_lnbits_version": config["min_lnbits_version"],
        "details_link": absolute(base_url, f"{EXT_ID}-{version}.json"),
    }


def merged_catalog(existing: dict | None, entry: dict) -> dict:
    """``existing`` with ``entry`` added, replacing a release of the same version;
    newest version first."""
    catalog = existing or {"featured": [], "repos": [], "extensions": []}
    others = [
        release
        for release in catalog.get("extensions", [])
        if (release.get("id"), release.get("version")) != (EXT_ID, entry["version"])
    ]
    releases = [entry, *others]
    releases.sort(key=lambda r: _version_key(str(r.get("version"))), reverse=True)
    return {**catalog, "extensions": releases}


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def build(
    *,
    source: Path = REPO_ROOT,
    out: Path,
    base_url: str = DEFAULT_BASE_URL,
    add_to: Path | None = None,
) -> Release:
    """Builds the archive, the details and the catalog of ``source`` in ``out``."""
    base_url = base_url.rstrip("/")
    config = read_config(source)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{EXT_ID}-{config['version']}.zip"
    write_archive(source, shipped_files(source), archive)
    sha256 = sha256_of(archive)
    write_details(source, config, out, base_url)
    entry = catalog_entry(config, base_url, archive.name, sha256)
    existing = json.loads(add_to.read_text()) if add_to and add_to.exists() else None
    catalog = merged_catalog(existing, entry)
    (add_to or out / "catalog.json").write_text(json.dumps(catalog, indent=2) + "\n")
    return Release(config["version"], archive, sha256, entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help="where the files of --out will be served from",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument("--source", type=Path, default=REPO_ROOT)
    parser.add_argument(
        "--add-to", type=Path, help="an existing catalog to add this release to"
    )
    args = parser.parse_args(argv)
    release = build(
        source=args.source.resolve(),
        out=args.out,
        base_url=args.base_url,
        add_to=args.add_to,
    )
    print(f"{release.archive}  sha256 {release.sha256}")
    print(f"catalog: {args.add_to or args.out / 'catalog.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
