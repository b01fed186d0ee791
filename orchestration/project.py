"""The dbt project as Dagster sees it, and the one rule for producing its manifest.

`@dbt_assets` reads `dbt_project/target/manifest.json` when the code location is imported, and no
manifest is committed (`dbt_project/target/` is git-ignored). `ensure_manifest` produces it with
`dbt parse --quiet` (what dagster-dbt's preparer runs):

* under `dagster dev` (DAGSTER_IS_DEV_CLI is set) at every load, as `DbtProject.prepare_if_dev()`
  would, so edits to models show up on "Reload definitions";
* anywhere else (pytest, `dagster job execute`, `dagster asset materialize`, a fresh clone) when
  the manifest is missing or older than any file dbt parses (models, seeds, macros, snapshots,
  tests, dbt_project.yml). An up-to-date manifest is used as is.

It does not call `prepare_if_dev()` / `project.preparer.prepare()` themselves: their preparer runs
the `dbt` found on PATH, which is missing when the venv is not activated (`.venv/bin/dagster dev`,
`make dagster`); here dbt is the venv's own executable (laoke.dbt.dbt_executable), as for every
other dbt call of laoke. Concurrent loads (run workers, pytest) take a file lock in the target
folder, and the second one finds the manifest fresh. dbt parse opens no warehouse.

A packaged deployment runs `dagster-dbt project prepare-and-package` at build time instead; the
check then finds a fresh manifest and does nothing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from laoke.dbt import dbt_executable
from laoke.settings import DBT_PROJECT_DIR

laoke_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# What `dbt parse` reads (dbt_project.yml's *-paths); a newer file makes the manifest stale.
_PARSED_FOLDERS = ("models", "seeds", "macros", "snapshots", "tests")
_PARSED_FILES = ("dbt_project.yml",)


def _newest_source_mtime(project: DbtProject) -> float:
    newest = 0.0
    for name in _PARSED_FILES:
        path = project.project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for folder in _PARSED_FOLDERS:
        root = project.project_dir / folder
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file():
                    newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject = laoke_dbt_project) -> bool:
    manifest: Path = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(project)


def _using_dagster_dev() -> bool:
    return bool(os.getenv("DAGSTER_IS_DEV_CLI"))  # set by `dagster dev`, read by dagster-dbt too


def parse_project(project: DbtProject = laoke_dbt_project) -> Path:
    """`dbt parse` into the project's target folder; returns the manifest path."""
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=target
    ).wait()
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
