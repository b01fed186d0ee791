"""The control group (对照组): a stable hash of (campaign id, customer id) decides who is held out.

md5 is in every engine laoke targets (DuckDB, Postgres, Spark), so the same split can be computed
in SQL; Python computes it here for one list, and the same expression is in holdout_sql().
"""

from __future__ import annotations

import hashlib


def holdout_fraction(campaign_id: str, customer_id: str) -> float:
    """A uniform number in [0, 1) fixed for this campaign and customer."""
    digest = hashlib.md5(f"{campaign_id}:{customer_id}".encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / 16**15


def is_holdout(campaign_id: str, customer_id: str, share: float) -> bool:
    return holdout_fraction(campaign_id, customer_id) < share


def holdout_sql(campaign_id_param: str, customer_id_column: str) -> str:
    """The same fraction in DuckDB SQL: the first 15 hex digits of md5 as a fraction of 16^15."""
    return (
        f"(cast(('0x' || substr(md5({campaign_id_param} || ':' || {customer_id_column}), 1, 15)) as ubigint)"
        f" / cast(1152921504606846976 as double))"
    )
