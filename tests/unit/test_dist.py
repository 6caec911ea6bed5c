"""``make dist`` (tools/dist.py): a reproducible archive holding only what runs."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
EXCLUDED_DIRS = ("tests", "bench", "tools", "requirements", "test-artifacts", "docs")


def load_dist() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "satmachineadmin_dist", REPO_ROOT / "tools" / "dist.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zipped:
        return zipped.namelist()


def test_two_builds_of_the_repository_are_identical(tmp_path):
    dist = load_dist()
    first = dist.build(out=tmp_path / "a", base_url="http://127.0.0.1:1/rel")
    second = dist.build(out=tmp_path / "b", base_url="http://127.0.0.1:1/rel")
    assert first.sha256 == second.sha256
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert first.sha256 == hashlib.sha256(first.archive.read_bytes()).hexdigest()
    config = json.loads((REPO_ROOT / "config.json").read_text())
    assert first.archive.name == f"satmachineadmin-{config['version']}.zip"


def test_the_archive_holds_one_folder_with_only_what_runs(tmp_path):
    release = load_dist().build(out=tmp_path, base_url="http://127.0.0.1:1")
    listed = names(release.archive)
    assert listed == sorted(listed)
    assert {PurePosixPath(name).parts[0] for name in listed} == {"satmachineadmin"}
    inside = [PurePosixPath(name).relative_to("satmachineadmin") for name in listed]
    for path in inside:
        assert path.parts[0] not in EXCLUDED_DIRS, path
        assert not any(part.startswith(".") for part in path.parts), path
        assert path.name not in ("requirements.txt", "Makefile", "pyproject.toml")
        assert path.suffix != ".pyc", path
    shipped = {str(path) for path in inside}
    for needed in ("__init__.py", "config.json", "migrations.py", "LICENSE"):
        assert needed in shipped
    assert any(name.startswith("templates/") for name in shipped)
    assert any(name.startswith("static/") for name in shipped)
    with zipfile.ZipFile(release.archive) as zipped:
        for info in zipped.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S607


def test_untracked_and_excluded_files_never_ship(tmp_path):
    """A source of its own: what git does not track stays out, and so does every
    excluded folder and dot-file even when tracked."""
    source = tmp_path / "src"
    for path in ("config.json", "description.md", "static/image/satmachineadmin.svg"):
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / path, source / path)
    tracked = [
        "__init__.py",
        "pkg/module.py",
        "tests/test_x.py",
        "bench/run.py",
        "tools/dev.py",
        "requirements/dev.lock",
        "requirements.txt",
        ".ci/check.sh",
        "pkg/.hidden",
    ]
    for path in [*tracked, "untracked.py", "pkg/scratch.py"]:
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(f"# {path}\n")
    git(source, "init", "-q")
    git(source, "add", "config.json", "description.md", "static", *tracked)
    release = load_dist().build(
        source=source, out=tmp_path / "out", base_url="http://127.0.0.1:9/x/"
    )
    assert names(release.archive) == [
        "satmachineadmin/__init__.py",
        "satmachineadmin/config.json",
        "satmachineadmin/description.md",
        "satmachineadmin/pkg/module.py",
        "satmachineadmin/static/image/satmachineadmin.svg",
    ]
    catalog = json.loads((tmp_path / "out" / "catalog.json").read_text())
    [entry] = catalog["extensions"]
    assert entry["hash"] == release.sha256
    assert entry["archive"] == f"http://127.0.0.1:9/x/{release.archive.name}"
    assert entry["id"] == "satmachineadmin"
    details = json.loads(
        (tmp_path / "out" / Path(entry["details_link"]).name).read_text()
    )
    assert details["description_md"] == "http://127.0.0.1:9/x/description.md"


def test_a_new_release_is_added_to_an_existing_catalog(tmp_path):
    dist = load_dist()
    version = json.loads((REPO_ROOT / "config.json").read_text())["version"]
    old = {"id": "satmachineadmin", "version": "0.0.0", "hash": "aa"}
    same = {"id": "satmachineadmin", "version": version, "hash": "stale"}
    other = {"id": "tpos", "version": "9.9.9", "hash": "bb"}
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps({"featured": ["x"], "extensions": [old, same, other]})
    )
    release = dist.build(out=tmp_path / "out", base_url="http://h", add_to=catalog)
    merged = json.loads(catalog.read_text())
    assert merged["featured"] == ["x"]
    versions = [(r["id"], r["version"], r["hash"]) for r in merged["extensions"]]
    assert versions == [
        ("tpos", "9.9.9", "bb"),
        ("satmachineadmin", release.version, release.sha256),
        ("satmachineadmin", "0.0.0", "aa"),
    ]
