"""The dbt project as Dagster sees it, and the one rule for producing its manifest.

`@dbt_assets` reads `dbt_project/target/manifest.json` when the code location is imported, and no
manifest is committed (`dbt_project/target/` is git-ignored). `ensure_manifest` produces it with
`dbt parse --quiet` (what dagster-dbt's preparer runs):

* under `dagster dev` (DAGSTER_IS_DEV_CLI is set) at every load, as `DbtProject.prepare_if_dev()`
  would, so edits to models show up on "Reload definitions";
* anywhere else (pytest, `dagster job execute`, `dagster asset materialize`, a fresh clone) when
  the manifest is missing or any file dbt parses (models, seeds, macros, snapshots, tests,
  dbt_project.yml) changed since: a fingerprint of those files (path, size, mtime), taken before
  the parse, is kept in `target/laoke_manifest_sources.sha256`. An up-to-date manifest is used
  as is; a manifest this code did not write (no fingerprint) is parsed again once.

It does not call `prepare_if_dev()` / `project.preparer.prepare()` themselves: their preparer runs
the `dbt` found on PATH, which is missing when the venv is not activated (`.venv/bin/dagster dev`,
`make dagster`); here dbt is the venv's own executable (laoke.dbt.dbt_executable), as for every
other dbt call of laoke. Concurrent loads (run workers, pytest) take a file lock in the target
folder, and the second one finds the manifest fresh. dbt parse opens no warehouse.

For a deployment image, parse at build time (`python -c "from orchestration.project import
parse_project; parse_project()"`) so the first load finds a fresh manifest and its fingerprint.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from laoke.dbt import dbt_executable
from laoke.settings import DBT_PROJECT_DIR

laoke_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# What `dbt parse` reads (dbt_project.yml's *-paths). Their fingerprint (path, size, mtime) taken
# *before* a parse is stored beside the manifest: a file edited during the parse still differs.
_PARSED_FOLDERS = ("models", "seeds", "macros", "snapshots", "tests", "analyses")
_PARSED_FILES = ("dbt_project.yml",)
_FINGERPRINT_FILE = "laoke_manifest_sources.sha256"


def sources_fingerprint(project: DbtProject = laoke_dbt_project) -> str:
    root = project.project_dir
    paths = [root / name for name in _PARSED_FILES if (root / name).is_file()]
    for folder in _PARSED_FOLDERS:
        if (root / folder).is_dir():
            paths += [p for p in (root / folder).rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _fingerprint_path(project: DbtProject) -> Path:
    return project.manifest_path.parent / _FINGERPRINT_FILE


def manifest_is_stale(project: DbtProject = laoke_dbt_project) -> bool:
    """True when there is no manifest, or the dbt sources changed since it was parsed here."""
    stored = _fingerprint_path(project)
    return (not project.manifest_path.exists() or not stored.exists()
            or stored.read_text().strip() != sources_fingerprint(project))


def _using_dagster_dev() -> bool:
    return bool(os.getenv("DAGSTER_IS_DEV_CLI"))  # set by `dagster dev`, read by dagster-dbt too


def parse_project(project: DbtProject = laoke_dbt_project) -> Path:
    """`dbt parse` into the project's target folder; returns the manifest path."""
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    before = sources_fingerprint(project)
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=target
    ).wait()
    _fingerprint_path(project).write_text(before + "\n")
    return project.manifest_path


def ensure_manifest(project: DbtProject = laoke_dbt_project) -> Path:
    """Parse the dbt project if needed (see the module docstring); returns the manifest path."""
    if not _using_dagster_dev() and not manifest_is_stale(project):
        return project.manifest_path
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".laoke-parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _using_dagster_dev() or manifest_is_stale(project):
            parse_project(project)
    if not project.manifest_path.exists():
        raise FileNotFoundError(f"dbt parse wrote no manifest at {project.manifest_path}")
    return project.manifest_path
