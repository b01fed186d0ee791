"""`laoke report CAMPAIGN`: one self-contained HTML page saying whether a campaign paid off.

Reads main.campaign_results (dbt) and main.campaign_lift (laoke/evaluation.py) for one list (the
campaign's latest send date by default) and writes data/reports/<campaign>.html atomically. The
page embeds plotly.js (no CDN: it opens offline) and has: the headline lift with its confidence
interval and p-value, conversion by segment and group with 95% Wilson intervals, the lift per
segment with its Newcombe interval, revenue per member, ROI, the funnel sent -> delivered ->
converted, and every number in a table. Chart ids are fixed, so the same data gives the same bytes.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from laoke.errors import LaokeError
from laoke.evaluation import NOT_ENOUGH_DATA, OK, wilson_interval
from laoke.warehouse import connect

GROUP_COLOURS = {"treatment": "#d1495b", "holdout": "#8d99ae"}
GROUP_LABELS = {"treatment": "treatment (sent)", "holdout": "holdout (control)"}


def _segments_order(segments) -> list[str]:
    rest = sorted(s for s in set(segments) if s != "all")
    return (["all"] if "all" in set(segments) else []) + rest


def _read(warehouse: Path, campaign_id: str, send_date: date | None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    with connect(warehouse, read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        if "campaign_results" not in tables or "campaign_lift" not in tables:
            raise LaokeError(f"{warehouse}: no evaluation yet (run `laoke evaluate`)")
        if send_date is None:
            send_date = con.execute("select max(send_date) from main.campaign_results where campaign_id = ?",
                                    [campaign_id]).fetchall()[0][0]
        if send_date is None:
            known = ", ".join(r[0] for r in con.execute(
                "select distinct campaign_id from main.campaign_results order by 1").fetchall()) or "none"
            raise LaokeError(f"no results for campaign {campaign_id!r} (evaluated campaigns: {known}); "
                             "export its list, pull results and run `laoke evaluate`")
        params = {"c": campaign_id, "d": send_date}
        results = con.execute("select * from main.campaign_results where campaign_id = $c and send_date = $d", params).df()
        lift = con.execute("select * from main.campaign_lift where campaign_id = $c and send_date = $d", params).df()
        run = con.execute("""
            select purpose, audience, treatment, holdout, holdout_share, cost_per_message, attribution_window_days
            from campaigns.send_list_runs where campaign_id = $c and send_date = $d
        """, params).df()
    if results.empty:
        raise LaokeError(f"no results for campaign {campaign_id!r} sent on {send_date} (run `laoke evaluate`)")
    meta = run.iloc[0].to_dict() if len(run) else {}
    meta["send_date"] = send_date
    try:
        from laoke.campaigns import get_campaign

        meta["name"] = get_campaign(campaign_id).name
    except LaokeError:
        meta["name"] = campaign_id
    return results, lift, meta


def _pct(x, digits: int = 2) -> str:
    return "–" if x is None or pd.isna(x) else f"{x * 100:.{digits}f}%"


def _pts(x, digits: int = 2) -> str:
    return "–" if x is None or pd.isna(x) else f"{x * 100:+.{digits}f}"


def _num(x, digits: int = 0) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:,.{digits}f}"


def _figures(results: pd.DataFrame, lift: pd.DataFrame) -> list[tuple[str, str, object]]:
    import plotly.graph_objects as go

    segments = _segments_order(results["segment"])
    figures = []
    layout = dict(template="plotly_white", height=380, margin=dict(l=60, r=20, t=50, b=50),
                  legend=dict(orientation="h", y=-0.18), font=dict(family="sans-serif", size=13))

    # 1. Conversion by segment and group, with Wilson 95% intervals.
    fig = go.Figure()
    for group in ("treatment", "holdout"):
        rows = results[results["treatment_group"] == group].set_index("segment").reindex(segments)
        low, high = wilson_interval(rows["converted"].fillna(0), rows["targeted"].fillna(0))
        rate = rows["conversion_rate"].to_numpy(dtype=float)
        fig.add_bar(name=GROUP_LABELS[group], x=segments, y=rate * 100, marker_color=GROUP_COLOURS[group],
                    error_y=dict(type="data", symmetric=False, array=(high - rate) * 100, arrayminus=(rate - low) * 100),
                    customdata=np.stack([rows["converted"].fillna(0), rows["targeted"].fillna(0)], axis=-1),
                    hovertemplate="%{x}: %{y:.2f}% (%{customdata[0]:,.0f} of %{customdata[1]:,.0f})<extra></extra>")
    fig.update_layout(title="Conversion rate by segment and group (95% CI)", yaxis_title="converted (%)",
                      barmode="group", **layout)
    figures.append(("conversion", "Conversion", fig))

    # 2. Lift per segment with the Newcombe interval.
    rows = lift.set_index("segment").reindex(segments)
    ok = (rows["status"] == OK).to_numpy()
    est = rows["absolute_lift"].to_numpy(dtype=float) * 100
    fig = go.Figure()
    fig.add_scatter(x=[s for s, k in zip(segments, ok) if k], y=est[ok], mode="markers", name="lift",
                    marker=dict(size=12, color="#2e4057"),
                    error_y=dict(type="data", symmetric=False,
                                 array=(rows["absolute_lift_ci_high"].to_numpy(dtype=float) * 100 - est)[ok],
                                 arrayminus=(est - rows["absolute_lift_ci_low"].to_numpy(dtype=float) * 100)[ok]),
                    customdata=rows["p_value"].to_numpy(dtype=float)[ok],
                    hovertemplate="%{x}: %{y:+.2f} points, p = %{customdata:.3f}<extra></extra>")
    for segment, k in zip(segments, ok):
        if not k:
            fig.add_annotation(x=segment, y=0, text=NOT_ENOUGH_DATA, showarrow=False, yshift=14,
                               font=dict(color="#888"))
    fig.add_hline(y=0, line_dash="dot", line_color="#888")
    fig.update_xaxes(categoryorder="array", categoryarray=segments)
    fig.update_layout(title="Lift of treated over control (percentage points, 95% CI)",
                      yaxis_title="lift (points)", showlegend=False, **layout)
    figures.append(("lift", "Lift", fig))

    # 3. Revenue per member by group.
    fig = go.Figure()
    for group in ("treatment", "holdout"):
        rows = results[results["treatment_group"] == group].set_index("segment").reindex(segments)
        fig.add_bar(name=GROUP_LABELS[group], x=segments, y=rows["revenue_per_customer"].astype(float),
                    marker_color=GROUP_COLOURS[group],
                    customdata=np.stack([rows["revenue"].astype(float).fillna(0), rows["average_order_value"].astype(float)], axis=-1),
                    hovertemplate="%{x}: ¥%{y:.2f} per member (revenue ¥%{customdata[0]:,.0f}, "
                                  "客单价 ¥%{customdata[1]:,.0f})<extra></extra>")
    fig.update_layout(title="Revenue per member in the attribution window (CNY)", yaxis_title="CNY per member",
                      barmode="group", **layout)
    figures.append(("revenue", "Revenue", fig))

    # 4. ROI: all attributed revenue, and only the incremental part.
    treat = results[results["treatment_group"] == "treatment"].set_index("segment").reindex(segments)
    fig = go.Figure()
    fig.add_bar(name="ROI (all attributed revenue)", x=segments, y=treat["roi"].astype(float), marker_color="#edae49")
    fig.add_bar(name="incremental ROI (over control)", x=segments, y=treat["incremental_roi"].astype(float),
                marker_color="#00798c")
    fig.add_hline(y=0, line_color="#444")
    fig.update_layout(title="ROI: (revenue − cost) / cost", yaxis_title="ROI (x cost)", barmode="group", **layout)
    figures.append(("roi", "ROI", fig))

    # 5. Funnel for the whole list.
    all_t = results[(results["treatment_group"] == "treatment") & (results["segment"] == "all")]
    if len(all_t):
        r = all_t.iloc[0]
        stages = ["sent", "delivered", "converted"]
        values = [int(r["sent"]), int(r["delivered"]), int(r["converted"])]
        fig = go.Figure(go.Funnel(y=stages, x=values, textinfo="value+percent initial", marker=dict(color="#d1495b")))
        fig.update_layout(title=f"Funnel (treatment): sent → delivered → converted; {int(r['opt_outs']):,} opted out",
                          **{**layout, "height": 320})
        figures.append(("funnel", "Funnel", fig))
    return figures


def _headline(lift: pd.DataFrame, results: pd.DataFrame) -> str:
    row = lift[lift["segment"] == "all"]
    if row.empty:
        return "<p>No lift computed for this list.</p>"
    r = row.iloc[0]
    if r["status"] != OK:
        return (f"<p class='headline'>Not enough data to measure lift: {int(r['treated']):,} treated and "
                f"{int(r['control']):,} in the control group, {int(r['treated_conversions'] + r['control_conversions']):,} "
                "conversions in all. laoke needs at least 30 members in each group and 5 conversions.</p>")
    significant = r["p_value"] < 0.05
    verdict = ("The difference is statistically significant (p < 0.05)." if significant else
               "The difference could be chance (p ≥ 0.05): the interval includes no effect.")
    treat = results[(results["segment"] == "all") & (results["treatment_group"] == "treatment")].iloc[0]
    return (
        f"<p class='headline'>Treated members converted at <b>{_pct(r['treated_rate'])}</b> against "
        f"<b>{_pct(r['control_rate'])}</b> in the control group: a lift of <b>{_pts(r['absolute_lift'])} points</b> "
        f"(95% CI {_pts(r['absolute_lift_ci_low'])} to {_pts(r['absolute_lift_ci_high'])}; p = {r['p_value']:.3f}). "
        f"{verdict}</p>"
        f"<p>Incremental: {_num(treat['incremental_conversions'], 1)} conversions and "
        f"¥{_num(treat['incremental_revenue'], 0)} revenue "
        f"(revenue per member {r['revenue_per_customer_lift']:+.2f} CNY, 95% bootstrap CI "
        f"{r['revenue_per_customer_lift_ci_low']:+.2f} to {r['revenue_per_customer_lift_ci_high']:+.2f}) for "
        f"¥{_num(treat['cost'], 2)} of messages. With these group sizes the test detects a lift of about "
        f"{_pts(r['minimum_detectable_lift'])} points (80% power).</p>"
    )


def _table(results: pd.DataFrame, lift: pd.DataFrame) -> str:
    segments = _segments_order(results["segment"])
    header = ("<tr><th>segment</th><th>group</th><th>targeted</th><th>sent</th><th>delivered</th><th>opt-outs</th>"
              "<th>converted</th><th>conversion</th><th>orders</th><th>revenue</th><th>客单价</th><th>cost</th>"
              "<th>ROI</th><th>lift (points, 95% CI)</th><th>p</th></tr>")
    body = []
    for segment in segments:
        lrow = lift[lift["segment"] == segment]
        for group in ("treatment", "holdout"):
            rows = results[(results["segment"] == segment) & (results["treatment_group"] == group)]
            if rows.empty:
                continue
            r = rows.iloc[0]
            lift_cell, p_cell = "", ""
            if group == "treatment" and len(lrow):
                lr = lrow.iloc[0]
                if lr["status"] == OK:
                    lift_cell = (f"{_pts(lr['absolute_lift'])} ({_pts(lr['absolute_lift_ci_low'])} to "
                                 f"{_pts(lr['absolute_lift_ci_high'])})")
                    p_cell = f"{lr['p_value']:.3f}"
                else:
                    lift_cell = html.escape(str(lr["status"]))
            body.append(
                f"<tr><td>{html.escape(str(segment))}</td><td>{group}</td><td>{_num(r['targeted'])}</td>"
                f"<td>{_num(r['sent'])}</td><td>{_num(r['delivered'])}</td><td>{_num(r['opt_outs'])}</td>"
                f"<td>{_num(r['converted'])}</td><td>{_pct(r['conversion_rate'])}</td><td>{_num(r['orders'])}</td>"
                f"<td>¥{_num(float(r['revenue']), 2)}</td><td>{'¥' + _num(r['average_order_value'], 2) if pd.notna(r['average_order_value']) else '–'}</td>"
                f"<td>¥{_num(float(r['cost']), 2)}</td><td>{_num(r['roi'], 1)}</td><td>{lift_cell}</td><td>{p_cell}</td></tr>"
            )
    return f"<table>{header}{''.join(body)}</table>"


CSS = """
body { font-family: -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } .meta { color: #666; margin-top: 0; }
.headline { font-size: 1.15em; } .warning { background: #fff3cd; padding: 0.6em 1em; border-radius: 4px; }
.chart { width: 100%; margin: 0.5em 0 1.5em 0; }
table { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; } th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
.notes { color: #555; font-size: 0.9em; }
"""


def render_report(results: pd.DataFrame, lift: pd.DataFrame, meta: dict, campaign_id: str) -> str:
    figures = _figures(results, lift)
    divs = []
    for i, (key, _title, fig) in enumerate(figures):
        fig.update_layout(title_x=0.0, title_xanchor="left")
        divs.append("<div class='chart'>" + fig.to_html(
            full_html=False, include_plotlyjs=(i == 0), div_id=f"laoke-{key}", default_width="100%",
            config={"displaylogo": False, "responsive": True, "displayModeBar": False}) + "</div>")
    window_complete = bool(results["window_complete"].all())
    warning = "" if window_complete else (
        "<p class='warning'>The attribution window is not over yet (as of "
        f"{results['as_of_date'].max():%Y-%m-%d}): these figures will still change.</p>")
    window = meta.get("attribution_window_days")
    cost = meta.get("cost_per_message")
    notes = (
        "<div class='notes'><h2>How to read this</h2><ul>"
        f"<li>Orders count when placed in the attribution window: from the send date 00:00 for "
        f"{_num(window) if window is not None else 'the configured number of'} days, for treatment and control alike.</li>"
        "<li>Rates are over everyone in the group (intention to treat): treated members whose message failed still count, "
        "so treatment and control compare like with like.</li>"
        "<li>Lift CI: Newcombe's hybrid score interval; p-value: two-proportion z-test; revenue CI: bootstrap (2,000 "
        "resamples, seeded). Segments with fewer than 30 members in a group or fewer than 5 conversions show "
        "'not enough data'.</li>"
        f"<li>Cost: messages sent × {_num(cost, 3) if cost is not None else 'the cost per message'} CNY per SMS part. "
        "ROI counts all attributed revenue; incremental ROI only what exceeds the control group.</li>"
        "</ul></div>")
    title = f"{html.escape(str(meta.get('name', campaign_id)))} ({html.escape(campaign_id)})"
    return (
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{title}: campaign results</title><style>{CSS}</style></head><body>"
        f"<h1>{title}</h1><p class='meta'>sent {meta['send_date']:%Y-%m-%d} · "
        f"evaluated as of {results['as_of_date'].max():%Y-%m-%d} · holdout share "
        f"{_pct(meta.get('holdout_share'), 0) if meta.get('holdout_share') is not None else '–'}</p>"
        f"{warning}{_headline(lift, results)}"
        f"<div class='charts'>{''.join(divs)}</div>"
        f"<h2>All numbers</h2>{_table(results, lift)}{notes}</body></html>"
    )


def write_report(warehouse: Path, campaign_id: str, out_dir: Path, send_date: date | None = None) -> Path:
    """Writes <out_dir>/<campaign_id>.html (atomically) and returns its path."""
    from exports.atomic import atomic_path

    results, lift, meta = _read(warehouse, campaign_id, send_date)
    page = render_report(results, lift, meta, campaign_id)
    target = Path(out_dir) / f"{campaign_id}.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
