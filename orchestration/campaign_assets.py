"""Campaigns as Dagster assets: one send list per campaigns/*.yml, gated by Great Expectations.

Each campaign is an asset built by one multi-asset step that calls the same functions as
`laoke send-lists` (laoke.send_lists.build_send_list, exports.send_list_export.export_send_list),
in priority order (the order the frequency cap needs), and reports the gate's verdict as the
campaign's `quality_gate` asset check. The warehouse-level GX suites (customers and
phone numbers) are a blocking asset check on `customers`: a failure stops every send list.

No `from __future__ import annotations` (Dagster inspects the annotations).
"""

import dagster as dg

from laoke.campaigns import Campaign, load_campaigns
from laoke.send_lists import export_campaign
from orchestration.assets import PREDICTIONS_OP_NAME, _laoke_errors, dbt_key
from orchestration.resources import WAREHOUSE_POOL, LaokeWarehouse

CAMPAIGN_GROUP = "campaigns"
GATE_CHECK = "quality_gate"


def campaign_asset_key(campaign_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"send_list_{campaign_id}")


def _audience_dep(campaign: Campaign) -> dg.AssetKey:
    if campaign.audience.mart == "customer_predictions":
        return dg.AssetKey(PREDICTIONS_OP_NAME)
    return dbt_key(campaign.audience.mart)


def _campaign_spec(campaign: Campaign) -> dg.AssetSpec:
    deps = {dbt_key("customer_segments"), dbt_key("customer_contacts"), dbt_key("contact_preferences"),
            dbt_key("customers"), _audience_dep(campaign)}
    return dg.AssetSpec(
        key=campaign_asset_key(campaign.id),
        deps=sorted(deps, key=lambda k: k.to_user_string()),
        group_name=CAMPAIGN_GROUP,
        kinds={"python", "csv", "xlsx"},
        description=f"{campaign.name} ({campaign.purpose}, priority {campaign.priority}): audience from "
        f"main.{campaign.audience.mart}, send rules, control group, send slots, messages, gate, export.",
        metadata={"priority": campaign.priority, "campaign_file": campaign.source_file},
    )


CAMPAIGNS = load_campaigns()  # highest priority first


@dg.multi_asset(
    name="send_lists",
    specs=[_campaign_spec(c) for c in CAMPAIGNS.values()],
    check_specs=[dg.AssetCheckSpec(GATE_CHECK, asset=campaign_asset_key(c), description="GX send-list suite")
                 for c in CAMPAIGNS],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def send_lists(context: dg.AssetExecutionContext, warehouse: LaokeWarehouse):
    """One step builds the selected campaigns in priority order (the order the frequency cap
    needs); a list the gate refuses writes nothing, fails its check, and the others go on."""
    selected = set(context.selected_asset_keys)
    for campaign in CAMPAIGNS.values():
        key = campaign_asset_key(campaign.id)
        if key not in selected:
            continue
        with _laoke_errors():
            result = export_campaign(campaign, warehouse.warehouse, warehouse.exports)
        metadata = {"counts": result.manifest["counts"], "exported": bool(result.files)}
        for warning in result.warnings:
            context.log.warning(f"{campaign.id}: {warning}")
        if result.refused:
            context.log.error(result.refused)
            yield dg.MaterializeResult(asset_key=key, metadata={**metadata, "refused": result.refused})
            yield dg.AssetCheckResult(asset_key=key, check_name=GATE_CHECK, passed=False, description=result.refused)
        elif result.skipped:
            yield dg.MaterializeResult(asset_key=key, metadata={**metadata, "skipped": result.skipped})
            yield dg.AssetCheckResult(asset_key=key, check_name=GATE_CHECK, passed=True, description=result.skipped)
        else:
            yield dg.MaterializeResult(asset_key=key, metadata={
                **metadata, "send_date": result.manifest["send_date"], "files": [str(p) for p in result.files]})
            yield dg.AssetCheckResult(asset_key=key, check_name=GATE_CHECK, passed=True,
                                      metadata={"gate_result_id": str(result.gate_result_id),
                                                "warnings": len(result.warnings)})


@dg.asset_check(asset=dbt_key("customers"), blocking=True, pool=WAREHOUSE_POOL,
                description="GX suites on main.customers and raw.phone_numbers (no raw phone for analysts, "
                "valid E.164 for mobiles); results in quality.validation_results.")
def warehouse_quality(warehouse: LaokeWarehouse) -> dg.AssetCheckResult:
    from quality.validation import validate_warehouse

    outcomes = validate_warehouse(warehouse.warehouse)
    failures = {name: [str(f) for f in o.critical_failures] for name, o in outcomes.items() if not o.passed}
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={"suites": sorted(outcomes), "failures": failures,
                  "warnings": sum(len(o.warnings) for o in outcomes.values())},
    )


CAMPAIGN_SELECTION = dg.AssetSelection.groups(CAMPAIGN_GROUP)
campaign_job = dg.define_asset_job(
    name="campaign_job",
    selection=CAMPAIGN_SELECTION,
    description="Every campaign's send list, highest priority first, each gated and exported.",
)
