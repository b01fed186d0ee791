"""The dbt project as Dagster sees it, and the one rule for producing its manifest.

`@dbt_assets` reads `dbt_project/target/manifest.json` when the code location is imported, and no
manifest is committed (`dbt_project/target/` is git-ignored). `ensure_manifest` produces it:

* under `dagster dev` (DAGSTER_IS_DEV_CLI is set) dagster-dbt's `prepare_if_dev()` runs
  `dbt parse` at every load, so edits to models show up on "Reload definitions";
* anywhere else (pytest, `dagster job execute`, `dagster asset materialize`, a fresh clone) it runs
  the same preparation (`project.preparer.prepare`, i.e. `dbt parse --quiet`) when the manifest is
  missing or older than any file dbt parses (models, seeds, macros, snapshots, tests,
  dbt_project.yml). An up-to-date manifest is used as is, so a loaded process pays nothing.

A packaged deployment runs `dagster-dbt project prepare-and-package` at build time instead; the
check above then finds a fresh manifest and does nothing. `dbt parse` needs no warehouse: the
profile's path is only rendered, never opened.
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

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


def ensure_manifest(project: DbtProject = laoke_dbt_project) -> Path:
    """Parse the dbt project if needed (see the module docstring); returns the manifest path."""
    project.prepare_if_dev()  # dagster dev: always parse, picking up any change
    if manifest_is_stale(project):
        project.preparer.prepare(project)
    return project.manifest_path
