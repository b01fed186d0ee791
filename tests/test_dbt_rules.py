"""Runs every dbt unit test (one per DOMAIN.md rule) once, against the built demo warehouse.

dbt unit tests need the upstream relations to exist, so they run after the session's build; one
`dbt test` for all of them keeps dbt's start-up cost to once per session.
"""

from laoke.dbt import run_dbt


def test_every_dbt_unit_test_passes(demo_warehouse):
    results = run_dbt("test", demo_warehouse, extra=["--select", "test_type:unit"])
    # the results also hold the project's on-run-start hook
    unit_tests = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 15, [r["unique_id"] for r in results["results"]]
    assert all(r["status"] == "pass" for r in unit_tests)
