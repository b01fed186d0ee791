"""Results coming back from the SMS platform: delivery receipts and replies, into the warehouse.

Receipts and replies are state the warehouse keeps (schema `campaigns`, beside the send ledger),
loaded by Python because the files come from outside in any encoding and phones need
libphonenumber; dbt's evaluation models read them as sources.

Input files (CSV, UTF-8 or GBK/GB18030, comma / tab / semicolon; headers case-insensitive):

- receipts (回执): ``phone`` (手机号), ``status`` (状态), optional ``time`` (时间). Status words:
  DELIVRD / delivered / success / 成功 / 已送达 -> delivered; UNDELIV / failed / 失败 / REJECTD /
  EXPIRED -> failed; anything else (also empty) -> unknown, with the platform's text kept.
- replies (上行回复): ``phone``, ``text`` (内容), ``time``. Classified by laoke.replies.classify_reply.

Decisions:
- Text: each line is read as UTF-8, else GB18030 (a superset of GBK); a line that is neither
  rejects its row (undecodable_text) rather than guessing at a phone or a reply.
- A row that cannot be used (no parseable phone; a receipt for a phone the list did not send to;
  a reply without a readable time that is not an opt-out) is rejected: counted in the returned
  LoadResult and written to `campaigns.results_rejects` with file, line and field. Nothing is
  dropped silently. A file that cannot be read at all raises LaokeError naming file and column.
- An opt-out reply is never dropped: one without a readable time is kept, dated at the load.
- A file is identified by its name: loading a file of the same name again replaces its rows
  (receipts: per campaign and send date), so loads are idempotent.
- Opt-outs are effective at once: `latest_reply_opt_outs(con)` gives the phones to suppress
  before the next dbt build; restricted.contact_preferences includes the replies from then on.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd

from laoke.errors import LaokeError
from laoke.phones import normalize_phone
from laoke.replies import OPT_IN, OPT_OUT, classify_reply
from laoke.settings import rule
from laoke.warehouse import connect

RESULTS_SCHEMA = "campaigns"

DELIVERED_WORDS = frozenset({
    "delivrd", "delivered", "deliver", "success", "successful", "succeeded", "succeed", "ok",
    "成功", "发送成功", "已送达", "送达", "成功送达", "接收成功",
})
FAILED_WORDS = frozenset({
    "undeliv", "undelivered", "failed", "fail", "failure", "rejectd", "rejected", "reject",
    "expired", "deleted", "失败", "发送失败", "送达失败", "接收失败", "过期", "已过期", "拒收", "被拒",
})

# Header names understood for each field (after NFKC, casefold, spaces/dashes -> '_').
HEADER_ALIASES = {
    "phone": ("phone", "mobile", "phone_number", "mobile_phone", "msisdn", "手机号", "手机号码", "手机", "号码", "电话"),
    "status": ("status", "stat", "report_status", "delivery_status", "状态", "回执状态", "发送状态", "结果"),
    "time": ("time", "received_at", "report_time", "done_time", "reply_time", "datetime", "时间", "回执时间",
             "回复时间", "接收时间"),
    "text": ("text", "content", "reply", "reply_text", "message", "内容", "回复内容", "短信内容", "上行内容"),
}
_DELIMITERS = (",", "\t", ";", "|")
_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y.%m.%d %H:%M:%S",
)
_STORE_OFFSET = timezone(timedelta(hours=8))  # epoch times are converted to store time (Asia/Shanghai)


@dataclass
class Reject:
    source_row: int
    field: str
    reason: str
    value: str | None


@dataclass
class LoadResult:
    kind: str                      # 'receipts' or 'replies'
    source_file: str
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    counts: dict[str, int]         # receipts: per status; replies: per class ('none' = not a command)
    rejects: list[Reject] = field(default_factory=list)
    campaign_id: str | None = None
    send_date: date | None = None

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return (f"{self.source_file}: {self.rows_in:,} rows, {self.rows_loaded:,} loaded ({counts}), "
                f"{self.rows_rejected:,} rejected")


def ensure_results_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Creates campaigns.delivery_receipts, campaigns.replies and campaigns.results_rejects if missing."""
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    con.execute(f"""
        create table if not exists {RESULTS_SCHEMA}.delivery_receipts (
            campaign_id varchar, send_date date, phone_e164 varchar, status varchar, status_text varchar,
            received_at timestamp, source_file varchar, source_row bigint
        )""")
    con.execute(f"""
        create table if not exists {RESULTS_SCHEMA}.replies (
            phone_e164 varchar, reply_text varchar, reply_class varchar, received_at timestamp,
            received_at_assumed boolean, campaign_id varchar, send_date date, source_file varchar, source_row bigint
        )""")
    con.execute(f"""
        create table if not exists {RESULTS_SCHEMA}.results_rejects (
            kind varchar, source_file varchar, source_row bigint, field varchar, reason varchar, value varchar
        )""")


# --- reading a platform file ---------------------------------------------------------------------


def _header_key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).strip().strip("\ufeff").casefold()
    return re.sub(r"[\s\-]+", "_", text)


def _decode(path: Path) -> tuple[str, set[int]]:
    """The file as text, each line decoded as UTF-8, else GB18030 (a superset of GBK), so a file of
    GBK exports appended to UTF-8 ones reads. Lines that are neither are decoded with replacement
    characters; their numbers are returned so their rows are rejected (undecodable_text)."""
    data = path.read_bytes()
    if not data.strip():
        raise LaokeError(f"{path}: the file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), set()
    except UnicodeDecodeError:
        pass
    lines, bad = [], set()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        for codec in ("utf-8", "gb18030"):
            try:
                lines.append(raw.decode(codec))
                break
            except UnicodeDecodeError:
                continue
        else:
            lines.append(raw.decode("gb18030", errors="replace"))
            bad.add(number)
    if 1 in bad:
        raise LaokeError(f"{path}: row 1: the header is neither UTF-8 nor GBK text")
    return "\n".join(lines), bad


def _read_rows(path: Path, required: tuple[str, ...],
               optional: tuple[str, ...]) -> tuple[dict[str, int], list[tuple[int, list[str]]], list[Reject]]:
    """(field -> column index, [(line number, values)], undecodable rows) for a platform CSV;
    the header is line 1."""
    if not path.is_file():
        raise LaokeError(f"{path}: no such file")
    text, bad_lines = _decode(path)
    header_line = text.splitlines()[0]
    delimiter = max(_DELIMITERS, key=lambda d: (header_line.count(d), -_DELIMITERS.index(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    keys = [_header_key(h) for h in header]
    mapping: dict[str, int] = {}
    for name in required + optional:
        for i, key in enumerate(keys):
            if key in HEADER_ALIASES[name]:
                mapping.setdefault(name, i)
    for name in required:
        if name not in mapping:
            raise LaokeError(
                f"{path}: row 1: field {name}: no column for it (header: {', '.join(header)}; "
                f"accepted names: {', '.join(HEADER_ALIASES[name])})"
            )
    rows: list[tuple[int, list[str]]] = []
    undecodable: list[Reject] = []
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if bad_lines and any(n in bad_lines for n in range(start, line + 1)):
            undecodable.append(Reject(start, "(row)", "undecodable_text", None))
            continue
        rows.append((start, values))
    return mapping, rows, undecodable


def _value(values: list[str], mapping: dict[str, int], name: str) -> str | None:
    i = mapping.get(name)
    if i is None or i >= len(values):
        return None
    text = values[i].strip().strip("\ufeff\u3000")
    return text or None


def parse_time(text: str | None) -> datetime | None:
    """A platform timestamp as naive store-local time, or None when it cannot be read.

    ISO dates/timestamps, 'YYYY/MM/DD[ HH:MM[:SS]]', 'YYYYMMDDHHMMSS', 'YYYY年M月D日', and epoch
    seconds (10 digits) or milliseconds (13 digits), converted to Asia/Shanghai time."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    if re.fullmatch(r"\d{10}|\d{13}", text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, _STORE_OFFSET).replace(tzinfo=None)
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(_STORE_OFFSET).replace(tzinfo=None) if parsed.tzinfo else parsed
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def receipt_status(text: str | None) -> str:
    """'delivered', 'failed' or 'unknown' for a platform's status word."""
    if text is None:
        return "unknown"
    word = unicodedata.normalize("NFKC", text).strip().casefold()
    if word in DELIVERED_WORDS:
        return "delivered"
    if word in FAILED_WORDS:
        return "failed"
    return "unknown"


# --- loading ---------------------------------------------------------------------------------------


def _ledger_send(con, campaign_id: str, send_date: date | None) -> date:
    row = con.execute(
        f"select max(send_date) from {RESULTS_SCHEMA}.send_ledger where campaign_id = $c"
        + (" and send_date = $d" if send_date else ""),
        {"c": campaign_id, **({"d": send_date} if send_date else {})},
    ).fetchall()[0]
    if row[0] is None:
        when = f" sent on {send_date}" if send_date else ""
        raise LaokeError(f"campaign {campaign_id!r}: no list{when} in the send ledger (export it with `laoke send-lists` first)")
    return row[0]


def _replace_rows(con, table: str, frame: pd.DataFrame, rejects: pd.DataFrame, where: str, params: dict) -> None:
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {RESULTS_SCHEMA}.{table} where {where}", params)
        con.execute(f"delete from {RESULTS_SCHEMA}.results_rejects where kind = $kind and source_file = $source_file",
                    {"kind": "receipts" if table == "delivery_receipts" else "replies", "source_file": params["source_file"]})
        if len(frame):
            con.register("_rows", frame)
            con.execute(f"insert into {RESULTS_SCHEMA}.{table} by name select * from _rows")
            con.unregister("_rows")
        if len(rejects):
            con.register("_rejects", rejects)
            con.execute(f"insert into {RESULTS_SCHEMA}.results_rejects by name select * from _rejects")
            con.unregister("_rejects")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _rejects_frame(kind: str, source_file: str, rejects: list[Reject]) -> pd.DataFrame:
    return pd.DataFrame({
        "kind": pd.Series([kind] * len(rejects), dtype="object"),
        "source_file": pd.Series([source_file] * len(rejects), dtype="object"),
        "source_row": pd.Series([r.source_row for r in rejects], dtype="int64"),
        "field": pd.Series([r.field for r in rejects], dtype="object"),
        "reason": pd.Series([r.reason for r in rejects], dtype="object"),
        "value": pd.Series([r.value for r in rejects], dtype="object"),
    })


def load_receipts(warehouse: Path, path: Path, campaign_id: str, send_date: date | None = None) -> LoadResult:
    """Loads a platform's delivery-receipt CSV (phone, status[, time]) for one exported list.

    send_date: which list of the campaign (default: its latest in the send ledger). Receipts for
    phones the list did not send to are rejected (field phone, reason not_in_send_list)."""
    path = Path(path)
    mapping, rows, undecodable = _read_rows(path, ("phone", "status"), ("time",))
    source_file = path.name
    with connect(warehouse) as con:
        ensure_results_tables(con)
        from laoke.send_lists import ensure_ledger

        ensure_ledger(con)
        send_date = _ledger_send(con, campaign_id, send_date)
        sent = {r[0] for r in con.execute(
            f"select e164 from {RESULTS_SCHEMA}.send_ledger where campaign_id = $c and send_date = $d "
            "and treatment_group = 'treatment' and e164 is not null",
            {"c": campaign_id, "d": send_date},
        ).fetchall()}
        records, rejects = [], list(undecodable)
        for line, values in rows:
            raw_phone = _value(values, mapping, "phone")
            e164 = normalize_phone(raw_phone).e164 if raw_phone else None
            if e164 is None:
                rejects.append(Reject(line, "phone", "missing_phone" if raw_phone is None else "unparseable_phone", raw_phone))
                continue
            if e164 not in sent:
                rejects.append(Reject(line, "phone", "not_in_send_list", raw_phone))
                continue
            raw_time = _value(values, mapping, "time")
            received_at = parse_time(raw_time)
            if raw_time is not None and received_at is None:
                rejects.append(Reject(line, "time", "unparseable_time", raw_time))
                continue
            status_text = _value(values, mapping, "status")
            records.append({
                "campaign_id": campaign_id, "send_date": send_date, "phone_e164": e164,
                "status": receipt_status(status_text), "status_text": status_text,
                "received_at": received_at, "source_file": source_file, "source_row": line,
            })
        frame = pd.DataFrame(records, columns=["campaign_id", "send_date", "phone_e164", "status", "status_text",
                                               "received_at", "source_file", "source_row"])
        frame["received_at"] = pd.to_datetime(frame["received_at"])
        _replace_rows(con, "delivery_receipts", frame, _rejects_frame("receipts", source_file, rejects),
                      "campaign_id = $campaign_id and send_date = $send_date and source_file = $source_file",
                      {"campaign_id": campaign_id, "send_date": send_date, "source_file": source_file})
    counts = {s: int((frame["status"] == s).sum()) for s in ("delivered", "failed", "unknown")}
    rejects.sort(key=lambda r: r.source_row)
    return LoadResult("receipts", source_file, len(rows) + len(undecodable), len(frame), len(rejects), counts,
                      rejects, campaign_id, send_date)


def load_replies(warehouse: Path, path: Path, campaign_id: str | None = None) -> LoadResult:
    """Loads a platform's reply CSV (phone, text, time); each reply is classified (opt_out / opt_in / none).

    Each reply is attributed to the latest list (treatment) sent to that phone on or before the
    reply, within that list's attribution window; campaign_id restricts this to one campaign.
    Replies from phones no list reached are kept too (campaign_id null): an opt-out counts
    whoever sends it."""
    path = Path(path)
    mapping, rows, undecodable = _read_rows(path, ("phone", "text"), ("time",))
    source_file = path.name
    loaded_at = datetime.now().replace(microsecond=0)
    records, rejects = [], list(undecodable)
    for line, values in rows:
        raw_phone = _value(values, mapping, "phone")
        e164 = normalize_phone(raw_phone).e164 if raw_phone else None
        if e164 is None:
            rejects.append(Reject(line, "phone", "missing_phone" if raw_phone is None else "unparseable_phone", raw_phone))
            continue
        text = _value(values, mapping, "text")
        reply_class = classify_reply(text)
        raw_time = _value(values, mapping, "time")
        received_at = parse_time(raw_time)
        assumed = False
        if received_at is None:
            if reply_class != OPT_OUT:
                rejects.append(Reject(line, "time", "missing_time" if raw_time is None else "unparseable_time", raw_time))
                continue
            received_at, assumed = loaded_at, True  # an opt-out is honoured even without a time
        records.append({
            "phone_e164": e164, "reply_text": text, "reply_class": reply_class, "received_at": received_at,
            "received_at_assumed": assumed, "source_file": source_file, "source_row": line,
        })
    frame = pd.DataFrame(records, columns=["phone_e164", "reply_text", "reply_class", "received_at",
                                           "received_at_assumed", "source_file", "source_row"])
    frame["received_at"] = pd.to_datetime(frame["received_at"])
    with connect(warehouse) as con:
        ensure_results_tables(con)
        from laoke.send_lists import ensure_ledger

        ensure_ledger(con)
        if campaign_id is not None and con.execute(
            f"select count(*) from {RESULTS_SCHEMA}.send_ledger where campaign_id = ?", [campaign_id]
        ).fetchall()[0][0] == 0:
            raise LaokeError(f"campaign {campaign_id!r}: no list in the send ledger (export it with `laoke send-lists` first)")
        con.register("_replies_in", frame)
        attributed = con.execute(
            f"""
            with sends as (
                select l.campaign_id, l.send_date, l.e164,
                       coalesce(l.send_at, cast(l.send_date as timestamp)) as sent_at,
                       coalesce(r.attribution_window_days, $window) as window_days
                from {RESULTS_SCHEMA}.send_ledger as l
                left join {RESULTS_SCHEMA}.send_list_runs as r using (campaign_id, send_date)
                where l.treatment_group = 'treatment' and ($campaign_id is null or l.campaign_id = $campaign_id)
            ),
            matched as (
                select i.*, s.campaign_id, s.send_date,
                       row_number() over (partition by i.source_row order by s.sent_at desc, s.campaign_id) as match_rank
                from _replies_in as i
                left join sends as s
                  on s.e164 = i.phone_e164
                 and s.sent_at <= i.received_at
                 and i.received_at < cast(s.send_date as timestamp) + to_days(cast(s.window_days as integer))
            )
            select phone_e164, reply_text, reply_class, received_at, received_at_assumed,
                   campaign_id, send_date, source_file, source_row
            from matched where match_rank = 1 order by source_row
            """,
            {"campaign_id": campaign_id, "window": int(rule("attribution_window_days"))},
        ).df()
        con.unregister("_replies_in")
        _replace_rows(con, "replies", attributed, _rejects_frame("replies", source_file, rejects),
                      "source_file = $source_file", {"source_file": source_file})
    classes = frame["reply_class"].fillna("none")
    counts = {c: int((classes == c).sum()) for c in (OPT_OUT, OPT_IN, "none")}
    rejects.sort(key=lambda r: r.source_row)
    return LoadResult("replies", source_file, len(rows) + len(undecodable), len(frame), len(rejects), counts,
                      rejects, campaign_id)


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()[0][0])


def latest_reply_opt_outs(con: duckdb.DuckDBPyConnection) -> set[str]:
    """E.164 phones whose latest opt-out/opt-in reply is an opt-out, with no later opt-in anywhere.

    For the send-list builder, so an opt-out reply loaded today suppresses the phone in the next
    list even before the next dbt build refreshes restricted.contact_preferences. "Later opt-in"
    is a later opt-in reply, or an opt-in in contact_preferences (landing opt_outs file) dated
    after the reply. On the same timestamp the opt-out wins. Works on a read-only connection;
    empty when no replies were ever loaded."""
    if not _table_exists(con, RESULTS_SCHEMA, "replies"):
        return set()
    later_opt_in = ""
    if _table_exists(con, "restricted", "contact_preferences"):
        later_opt_in = """
            and not exists (
                select 1 from restricted.contact_preferences as p
                where p.e164 = latest.phone_e164
                  and p.latest_consent_event = 'opt_in'
                  and p.latest_consent_event_at > latest.received_at
            )"""
    rows = con.execute(f"""
        with ranked as (
            select phone_e164, reply_class, received_at,
                   row_number() over (
                       partition by phone_e164
                       order by received_at desc, case when reply_class = 'opt_out' then 0 else 1 end
                   ) as reply_rank
            from {RESULTS_SCHEMA}.replies
            where reply_class in ('opt_out', 'opt_in')
        ),
        latest as (select * from ranked where reply_rank = 1)
        select phone_e164 from latest
        where reply_class = 'opt_out' {later_opt_in}
        order by 1
    """).fetchall()
    return {r[0] for r in rows}
