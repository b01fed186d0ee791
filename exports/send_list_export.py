"""Exporting a campaign's send list: quality gate, files, manifest, send ledger — or nothing.

The gate runs first; when it refuses, no file is written and the ledger is untouched. Files are
written atomically, then the ledger rows of this (campaign, send date) are replaced in one
transaction, so a rerun gives the same files and no duplicate ledger rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import pandas as pd

from exports.send_list_files import (csv_bytes, export_frame, file_entry, unencodable_cells, write_bytes,
                                     write_manifest, xlsx_bytes)
from laoke.send_lists import LEDGER_SCHEMA, SendList, ensure_ledger
from laoke.warehouse import connect


@dataclass
class ExportResult:
    campaign_id: str
    files: list[Path]
    manifest: dict
    gate_result_id: str | None
    warnings: list[str]
    refused: str | None = None  # the gate's paragraph when it refused: then no file was written
    skipped: str | None = None  # why nothing was exported although the gate did not refuse


def _suppressed_phones(warehouse: Path) -> set[str]:
    """Opted-out and blacklisted phones as of now: the last build's, plus replies pulled since."""
    from laoke.results import latest_reply_opt_outs

    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select e164 from restricted.contact_preferences where is_opted_out or is_blacklisted"
        ).fetchall()
        return {r[0] for r in rows} | set(latest_reply_opt_outs(con))


def run_gate(send_list: SendList, warehouse: Path):
    """The GX quality gate over the list; raises GateRefused (a LaokeError) when it refuses."""
    from quality.gate import check_send_list

    frame = send_list.recipients.rename(columns={"treatment_group": "group"})
    suppressed = _suppressed_phones(warehouse)
    with connect(warehouse) as con:
        return check_send_list(
            frame,
            suppressed_e164=suppressed,
            phone_classes=send_list.audience_phone_classes,
            holdout_share=send_list.campaign.holdout_share,
            campaign_id=send_list.campaign.id,
            as_of=send_list.as_of,
            run_id=f"{send_list.campaign.id}@{send_list.send_date}",
            max_segments=send_list.campaign.max_message_segments,
            warehouse_con=con,
        )


def list_checksum(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()


def export_send_list(send_list: SendList, warehouse: Path, out_dir: Path, gbk: bool = False,
                     gate: bool = True) -> ExportResult:
    campaign = send_list.campaign
    gate_result = run_gate(send_list, warehouse) if gate else None
    gate_id = getattr(gate_result, "result_id", None)
    warnings = list(send_list.warnings) + list(getattr(gate_result, "warnings", []) or [])

    frame = export_frame(send_list.treatment)
    checksum = list_checksum(frame)
    stem = f"{campaign.id}_{send_list.send_date:%Y%m%d}"
    folder = out_dir / campaign.id
    # Every file's bytes first: a value one of them cannot hold stops the export before any is written.
    contents = {folder / f"{stem}.csv": csv_bytes(frame, f"{stem}.csv"),
                folder / f"{stem}.xlsx": xlsx_bytes(frame, created=datetime.combine(send_list.as_of, time()))}
    if gbk:
        # GB18030, GBK's superset, writes every character; one outside GBK is said in a warning.
        contents[folder / f"{stem}.gbk.csv"] = csv_bytes(frame, f"{stem}.gbk.csv", encoding="gb18030")
        warnings += _outside_gbk_warnings(frame, f"{stem}.gbk.csv")
    files = list(contents)
    for path, data in contents.items():
        write_bytes(data, path)
    manifest = {
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "purpose": campaign.purpose,
        "as_of": send_list.as_of.isoformat(),
        "send_date": send_list.send_date.isoformat(),
        "counts": send_list.rule_counts,
        "holdout_size": send_list.rule_counts["holdout"],
        "holdout_share": campaign.holdout_share,
        "gate_result_id": gate_id,
        "list_checksum": checksum,
        "files": [file_entry(p) for p in files],
        "warnings": warnings,
    }
    manifest_path = folder / f"{stem}_manifest.json"
    write_manifest(manifest, manifest_path)
    record_ledger(send_list, warehouse, checksum, gate_id, [p.name for p in files])
    return ExportResult(campaign.id, files + [manifest_path], manifest, gate_id, warnings)


def _outside_gbk_warnings(frame: pd.DataFrame, file_name: str) -> list[str]:
    cells = unencodable_cells(frame, "gbk", limit=None)
    if not cells:
        return []
    examples = ", ".join(f"row {row} {field} {character!r}" for row, field, character in cells[:3])
    values = "1 value has" if len(cells) == 1 else f"{len(cells):,} values have"
    return [f"{file_name}: {values} characters outside GBK ({examples}), written as GB18030: a program that "
            "reads only GBK shows them garbled (the UTF-8 file has them as they are)"]


def record_ledger(send_list: SendList, warehouse: Path, checksum: str, gate_id: str | None, files: list[str]) -> None:
    campaign = send_list.campaign
    ledger = send_list.recipients.assign(
        cost_per_message=campaign.cost_per_message, list_checksum=checksum
    )[["campaign_id", "send_date", "customer_id", "e164", "segment", "treatment_group", "send_at", "message",
       "message_segments", "cost_per_message", "list_checksum"]]
    exclusions = send_list.exclusions.assign(campaign_id=campaign.id, send_date=send_list.send_date)[
        ["campaign_id", "send_date", "customer_id", "rule", "detail"]
    ]
    run = pd.DataFrame([{
        "campaign_id": campaign.id, "send_date": send_list.send_date, "as_of": send_list.as_of,
        "purpose": campaign.purpose, "priority": campaign.priority,
        "audience": send_list.rule_counts["audience"], "treatment": send_list.rule_counts["treatment"],
        "holdout": send_list.rule_counts["holdout"], "rule_counts": json.dumps(send_list.rule_counts, sort_keys=True),
        "gate_result_id": gate_id, "files": ",".join(files), "list_checksum": checksum,
        "holdout_share": campaign.holdout_share, "cost_per_message": campaign.cost_per_message,
        "attribution_window_days": campaign.attribution_window_days,
        "event_id": campaign.event.event_id if campaign.event else None,
    }])
    key = {"campaign_id": campaign.id, "send_date": send_list.send_date}
    with connect(warehouse) as con:
        ensure_ledger(con)
        con.execute("begin transaction")
        for table, frame in (("send_ledger", ledger), ("send_exclusions", exclusions), ("send_list_runs", run)):
            con.execute(f"delete from {LEDGER_SCHEMA}.{table} where campaign_id = $campaign_id and send_date = $send_date", key)
            con.register("_rows", frame)
            con.execute(f"insert into {LEDGER_SCHEMA}.{table} by name select * from _rows")
            con.unregister("_rows")
        con.execute("commit")
