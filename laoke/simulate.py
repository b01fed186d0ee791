"""`laoke simulate`: what an exported campaign brings back, with a known true uplift.

For the demo and the tests: given a list in the send ledger (treatment and holdout) and a true
uplift (absolute, in conversion probability: 0.01 = +1.0 point), it writes what the world would
send back: the platform's receipts CSV, its replies CSV, and the orders placed in the attribution
window, appended to the landing orders file. Seeded and deterministic: the same list, uplift and
seed give the same bytes.

The response model (ResponseModel) makes a member's chance to buy depend on their history before
the send date (main.orders, simulated orders excluded):
- weekly base rate by days since the last purchase: <=30 days 4%, 31-90 3%, 91-180 1.5%, older
  0.6%, never bought 0.3%; times 1 + 0.15 per earlier purchase order beyond the first (at most x2);
  over the window: 1 - (1 - weekly)^(window_days / 7).
- treatment: + uplift / delivery_rate for members whose message was delivered, so the
  intention-to-treat effect over the whole treatment group (what laoke measures) is the uplift.
- fatigue (seed 001): a treated member who bought in the last `fatigue_days` (7) before the send
  is annoyed rather than tempted: their chance becomes base x fatigue_multiplier (0.35) and they
  get no uplift. The recent-buyer rule (exclude_recent_buyers_days = 7) removes exactly them.
- a buyer places one order (a second one with probability 0.1) on a uniform day of the window,
  amount = their average past order x lognormal(0, 0.25) (150 CNY without history).

Decisions:
- Orders go into the landing `orders` file (the contract has one orders file): appended rows with
  order_id `SIM-<campaign>-<YYYYMMDD>-<n>`, status paid, channel tmall. A rerun first removes the
  rows it wrote before (by that prefix), so simulating twice does not double the orders.
- Receipts: ~95% DELIVRD, the rest UNDELIV / REJECTD / EXPIRED, a few seconds after send_at;
  phones as 11-digit national numbers, as platforms write them. Replies: ~0.5% of delivered
  members reply; most with an opt-out (T, TD, 退订, ...), some with chatter, a few with START.
- After simulating, the warehouse is rebuilt with as_of = load_date = send_date +
  attribution_window_days (rebuild=True), the first day after the window: every window order
  counts and none is a "future" order.
"""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from laoke.errors import LaokeError
from laoke.settings import rule
from laoke.warehouse import connect

SIM_PREFIX = "SIM"
OPT_OUT_TEXTS = ("T", "TD", "t", "退订", "Ｔ", "td", "退订，谢谢", "回T退订", "STOP", "取消")
CHATTER_TEXTS = ("好的", "谢谢", "券怎么用？", "收到", "已购买")
OPT_IN_TEXTS = ("START", "订阅")
FAILED_STATUSES = ("UNDELIV", "REJECTD", "EXPIRED")


@dataclass(frozen=True)
class ResponseModel:
    """How simulated members respond; see the module docstring."""

    recency_rates: tuple[tuple[int, float], ...] = ((30, 0.040), (90, 0.030), (180, 0.015))
    older_rate: float = 0.006
    never_rate: float = 0.003
    frequency_step: float = 0.15
    frequency_cap: float = 2.0
    fatigue_days: int = 7
    fatigue_multiplier: float = 0.35
    delivery_rate: float = 0.95
    reply_rate: float = 0.005
    reply_opt_out_share: float = 0.85
    reply_opt_in_share: float = 0.05
    second_order_share: float = 0.10
    default_order_amount: float = 150.0


@dataclass
class SimulationResult:
    campaign_id: str
    send_date: date
    uplift: float
    receipts_file: Path
    replies_file: Path
    orders_file: Path
    orders_added: int
    treated: int
    holdout: int
    as_of_after: date
    rebuilt: bool = False
    counts: dict = field(default_factory=dict)


def _rng(seed: int, campaign_id: str, send_date: date, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(campaign_id.encode()), send_date.toordinal(), zlib.crc32(purpose.encode())])


def latest_send_date(con, campaign_id: str) -> date:
    row = con.execute("select max(send_date) from campaigns.send_ledger where campaign_id = ?", [campaign_id]).fetchall()[0]
    if row[0] is None:
        raise LaokeError(f"campaign {campaign_id!r}: no list in the send ledger (export it with `laoke send-lists` first)")
    return row[0]


def member_history(con, members: pd.DataFrame, send_date: date) -> pd.DataFrame:
    """members (customer_id, ...) with purchase_orders, days_since_last_purchase and
    average_order_amount from main.orders before send_date (simulated orders excluded)."""
    con.register("_members", members[["customer_id"]].drop_duplicates())
    history = con.execute(f"""
        select m.customer_id,
               count(o.order_key) as purchase_orders,
               max(o.ordered_on) as last_purchase_date,
               avg(o.net_amount) as average_order_amount
        from _members as m
        left join main.orders as o
          on o.customer_id = m.customer_id
         and o.is_purchase
         and o.ordered_at < cast($send_date as timestamp)
         and coalesce(o.order_id, '') not like '{SIM_PREFIX}-%'
        group by m.customer_id
    """, {"send_date": send_date}).df()
    con.unregister("_members")
    out = members.merge(history, on="customer_id", how="left")
    last = pd.to_datetime(out["last_purchase_date"])
    out["days_since_last_purchase"] = (pd.Timestamp(send_date) - last).dt.days
    out["purchase_orders"] = out["purchase_orders"].fillna(0).astype(int)
    out["average_order_amount"] = pd.to_numeric(out["average_order_amount"], errors="coerce").astype(float)
    return out


def base_probability(history: pd.DataFrame, window_days: int, model: ResponseModel = ResponseModel()) -> np.ndarray:
    """Chance to buy in the window without any message, from recency and frequency."""
    days = history["days_since_last_purchase"].to_numpy(dtype=float)
    weekly = np.full(len(history), model.older_rate)
    for limit, rate in reversed(model.recency_rates):
        weekly = np.where(days <= limit, rate, weekly)
    weekly = np.where(np.isnan(days), model.never_rate, weekly)
    orders = history["purchase_orders"].to_numpy(dtype=float)
    weekly = weekly * np.minimum(1 + model.frequency_step * np.maximum(orders - 1, 0), model.frequency_cap)
    return 1 - (1 - weekly) ** (window_days / 7)


def conversion_probability(history: pd.DataFrame, treated: np.ndarray, delivered: np.ndarray, uplift: float,
                           window_days: int, model: ResponseModel = ResponseModel()) -> np.ndarray:
    base = base_probability(history, window_days, model)
    days = history["days_since_last_purchase"].to_numpy(dtype=float)
    fatigued = treated & ~np.isnan(days) & (days <= model.fatigue_days)
    p = np.where(treated & delivered & ~fatigued, base + uplift / model.delivery_rate, base)
    p = np.where(fatigued, base * model.fatigue_multiplier, p)
    return np.clip(p, 0.0, 1.0)


def draw_outcomes(history: pd.DataFrame, uplift: float, window_days: int, rng: np.random.Generator,
                  model: ResponseModel = ResponseModel()) -> pd.DataFrame:
    """One simulated world for a list: delivered (treatment) and converted per member, in memory."""
    treated = (history["treatment_group"] == "treatment").to_numpy()
    delivered = treated & (rng.random(len(history)) < model.delivery_rate)
    p = conversion_probability(history, treated, delivered, uplift, window_days, model)
    converted = rng.random(len(history)) < p
    return history.assign(delivered=delivered, probability=p, converted=converted)


def _ledger(con, campaign_id: str, send_date: date) -> tuple[pd.DataFrame, int]:
    ledger = con.execute("""
        select l.customer_id, l.e164, l.segment, l.treatment_group, l.send_at,
               coalesce(r.attribution_window_days, $window) as window_days
        from campaigns.send_ledger as l
        left join campaigns.send_list_runs as r using (campaign_id, send_date)
        where l.campaign_id = $c and l.send_date = $d
        order by l.customer_id
    """, {"c": campaign_id, "d": send_date, "window": int(rule("attribution_window_days"))}).df()
    window = int(ledger["window_days"].iloc[0]) if len(ledger) else int(rule("attribution_window_days"))
    return ledger.drop(columns="window_days"), window


def _national(e164: str) -> str:
    return e164[3:] if isinstance(e164, str) and e164.startswith("+86") else str(e164)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    from exports.atomic import atomic_path

    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue().encode("utf-8"))


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def simulate_outcomes(warehouse: Path, campaign_id: str, uplift: float, send_date: date | None = None,
                      seed: int = 0, model: ResponseModel = ResponseModel()) -> tuple[pd.DataFrame, date, int]:
    """The simulated world for one list, in memory: (members with outcomes, send_date, window_days)."""
    with connect(warehouse, read_only=True) as con:
        send_date = send_date or latest_send_date(con, campaign_id)
        ledger, window = _ledger(con, campaign_id, send_date)
        if ledger.empty:
            raise LaokeError(f"campaign {campaign_id!r}: no list sent on {send_date} in the send ledger")
        history = member_history(con, ledger, send_date)
    outcomes = draw_outcomes(history, uplift, window, _rng(seed, campaign_id, send_date, "outcomes"), model)
    return outcomes, send_date, window


def simulate_campaign(warehouse: Path, landing: Path, campaign_id: str, uplift: float, out_dir: Path,
                      send_date: date | None = None, seed: int = 0, rebuild: bool = True,
                      model: ResponseModel = ResponseModel()) -> SimulationResult:
    """Writes receipts and replies CSVs into out_dir, appends the window's orders to the landing
    orders file and (rebuild=True) rebuilds the warehouse as of send_date + window."""
    if not -1 < uplift < 1:
        raise LaokeError(f"uplift {uplift}: an absolute change in conversion probability, e.g. 0.01 for +1 point")
    outcomes, send_date, window = simulate_outcomes(warehouse, campaign_id, uplift, send_date, seed, model)
    stem = f"{campaign_id}_{send_date:%Y%m%d}"
    out_dir = Path(out_dir)

    # Receipts: one line per sent message.
    rng = _rng(seed, campaign_id, send_date, "receipts")
    treated = outcomes[outcomes["treatment_group"] == "treatment"]
    receipts = []
    for row in treated.itertuples(index=False):
        sent_at = pd.Timestamp(row.send_at).to_pydatetime() if pd.notna(row.send_at) else datetime.combine(send_date, datetime.min.time())
        status = "DELIVRD" if row.delivered else FAILED_STATUSES[int(rng.integers(len(FAILED_STATUSES)))]
        receipts.append([_national(row.e164), status, _fmt(sent_at + timedelta(seconds=int(rng.integers(2, 120))))])
    receipts_file = out_dir / f"receipts_{stem}.csv"
    _write_csv(receipts_file, ["phone", "status", "time"], receipts)

    # Replies: a few delivered members answer, mostly to opt out.
    rng = _rng(seed, campaign_id, send_date, "replies")
    replies = []
    for row in treated[treated["delivered"]].itertuples(index=False):
        if rng.random() >= model.reply_rate:
            continue
        kind = rng.random()
        texts = (OPT_OUT_TEXTS if kind < model.reply_opt_out_share
                 else OPT_IN_TEXTS if kind < model.reply_opt_out_share + model.reply_opt_in_share else CHATTER_TEXTS)
        sent_at = pd.Timestamp(row.send_at).to_pydatetime()
        replies.append([_national(row.e164), texts[int(rng.integers(len(texts)))],
                        _fmt(sent_at + timedelta(minutes=int(rng.integers(1, 600))))])
    replies_file = out_dir / f"replies_{stem}.csv"
    _write_csv(replies_file, ["phone", "text", "time"], replies)

    # Orders in the attribution window.
    rng = _rng(seed, campaign_id, send_date, "orders")
    prefix = f"{SIM_PREFIX}-{campaign_id}-{send_date:%Y%m%d}-"
    orders = []
    for row in outcomes[outcomes["converted"]].itertuples(index=False):
        n_orders = 2 if rng.random() < model.second_order_share else 1
        base_amount = row.average_order_amount if row.average_order_amount and row.average_order_amount > 0 else model.default_order_amount
        for _ in range(n_orders):
            day = send_date + timedelta(days=int(rng.integers(window)))
            at = datetime.combine(day, datetime.min.time()) + timedelta(seconds=int(rng.integers(8 * 3600, 23 * 3600)))
            amount = max(1.0, round(float(base_amount) * float(rng.lognormal(0.0, 0.25)), 2))
            orders.append({"customer_id": row.customer_id, "ordered_at": _fmt(at), "amount": f"{amount:.2f}",
                           "order_id": f"{prefix}{len(orders) + 1:06d}", "quantity": "1", "status": "paid",
                           "discount_amount": "0.00", "promotion_id": "", "channel": "tmall"})
    orders_file = append_orders(Path(landing), orders, prefix)

    as_of_after = send_date + timedelta(days=window)
    result = SimulationResult(
        campaign_id, send_date, uplift, receipts_file, replies_file, orders_file, len(orders),
        int((outcomes["treatment_group"] == "treatment").sum()), int((outcomes["treatment_group"] == "holdout").sum()),
        as_of_after,
        counts={"delivered": int(treated["delivered"].sum()), "replies": len(replies),
                "converted_treatment": int(treated["converted"].sum()),
                "converted_holdout": int(outcomes.loc[outcomes["treatment_group"] == "holdout", "converted"].sum())},
    )
    if rebuild:
        from laoke.build import build_warehouse

        build_warehouse(Path(landing), warehouse, as_of=as_of_after, load_date=as_of_after)
        result.rebuilt = True
    return result


def append_orders(landing: Path, orders: list[dict], prefix: str) -> Path:
    """Appends orders to the landing orders file (CSV in its own encoding and delimiter, or
    Parquet), first removing rows whose order_id starts with prefix (an earlier run's). Atomic."""
    from exports.atomic import atomic_path
    from laoke.landing import find_landing_files, normalise_header

    path = find_landing_files(landing).get("orders")
    if path is None:
        raise LaokeError(f"{landing}: no orders file to append simulated orders to")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        names = [normalise_header(n) for n in table.column_names]
        if "order_id" not in names:
            raise LaokeError(f"{path}: the orders file has no order_id column; simulated orders need one")
        ids = table.column(names.index("order_id")).to_pylist()
        table = table.filter(pa.array([not (isinstance(i, str) and i.startswith(prefix)) for i in ids]))
        extra = pa.table({name: pa.array([str(o.get(normalise_header(name), "")) for o in orders], type=pa.string())
                          for name in table.column_names}).cast(table.schema, safe=False)
        with atomic_path(path) as tmp:
            pq.write_table(pa.concat_tables([table, extra]), tmp)
        return path

    data = path.read_bytes()
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "gb18030"
    bom = data.startswith(b"\xef\xbb\xbf")
    lines = data.splitlines(keepends=True)
    header_text = lines[0].decode(encoding).lstrip("\ufeff").rstrip("\r\n")
    delimiter = max((",", "\t", ";", "|"), key=header_text.count)
    header = next(csv.reader([header_text], delimiter=delimiter))
    names = [normalise_header(h) for h in header]
    if "order_id" not in names:
        raise LaokeError(f"{path}: the orders file has no order_id column; simulated orders need one")
    newline = b"\r\n" if lines[0].endswith(b"\r\n") else b"\n"
    marker = prefix.encode(encoding)
    kept = [line for line in lines if marker not in line]
    if kept and not kept[-1].endswith((b"\n", b"\r")):
        kept[-1] += newline
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline.decode())
    for order in orders:
        writer.writerow([order.get(name, "") for name in names])
    body = b"".join(kept) + buf.getvalue().encode(encoding)
    if bom and not body.startswith(b"\xef\xbb\xbf"):
        body = b"\xef\xbb\xbf" + body
    with atomic_path(path) as tmp:
        tmp.write_bytes(body)
    return path


# --- seed 001: re-sending to recent buyers --------------------------------------------------------


def recent_buyer_comparison(warehouse: Path, campaign_id: str = "recent_buyers_trap", uplift: float = 0.01,
                            runs: int = 200, seed: int = 0, exclusion_days: int | None = None,
                            model: ResponseModel = ResponseModel()) -> pd.DataFrame:
    """Seed 001's lesson on the built warehouse: the same campaign built with the recent-buyer
    exclusion off (0 days) and on (exclusion_days, default the recent_buyer_days rule), each
    simulated `runs` times in memory (nothing is written). One row per setting: list sizes,
    recent buyers sent to, mean treated and holdout conversion rates, the mean measured lift, and
    the expected effect of the message on those treated (free of the small holdout's noise)."""
    from laoke.campaigns import get_campaign
    from laoke.send_lists import build_send_list

    exclusion_days = int(rule("recent_buyer_days")) if exclusion_days is None else exclusion_days
    base = get_campaign(campaign_id)
    rows = []
    for days in (0, exclusion_days):
        campaign = base.model_copy(update={"exclude_recent_buyers_days": days})
        send_list = build_send_list(campaign, warehouse)
        members = send_list.recipients[["customer_id", "treatment_group"]]
        with connect(warehouse, read_only=True) as con:
            history = member_history(con, members, send_list.send_date)
        window = campaign.attribution_window_days
        treated = (history["treatment_group"] == "treatment").to_numpy()
        days_since = history["days_since_last_purchase"].to_numpy(dtype=float)
        rng = _rng(seed, campaign.id, send_list.send_date, f"recent_buyers_{days}")
        t_rates, c_rates = [], []
        for _ in range(runs):
            outcome = draw_outcomes(history, uplift, window, rng, model)
            conv = outcome["converted"].to_numpy()
            t_rates.append(conv[treated].mean() if treated.any() else np.nan)
            c_rates.append(conv[~treated].mean() if (~treated).any() else np.nan)
        expected = (model.delivery_rate * conversion_probability(history, treated, treated, uplift, window, model)
                    + (1 - model.delivery_rate) * conversion_probability(history, treated, ~treated, uplift, window, model))
        rows.append({
            "exclude_recent_buyers_days": days,
            "treated": int(treated.sum()),
            "holdout": int((~treated).sum()),
            "recent_buyers_sent": int((treated & (days_since <= model.fatigue_days)).sum()),
            "treated_conversion_rate": float(np.nanmean(t_rates)),
            "holdout_conversion_rate": float(np.nanmean(c_rates)),
            "lift": float(np.nanmean(t_rates) - np.nanmean(c_rates)),
            "expected_treated_conversion_rate": float(expected[treated].mean()) if treated.any() else float("nan"),
            # What the messages did to those who got them (expected, no sampling noise): the true
            # uplift when nobody is fatigued, less (or below zero) when recent buyers are sent to.
            "effect_on_treated": float((expected - base_probability(history, window, model))[treated].mean())
            if treated.any() else float("nan"),
            "runs": runs,
        })
    return pd.DataFrame(rows)
