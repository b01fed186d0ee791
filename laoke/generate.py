"""A deterministic demo store: a Chinese skin-care shop's landing files, clean or with planted mess.

Every random number is a hash of (seed, customer number, order number, line number, purpose), not a
draw from a shared stream, so the same arguments give byte-identical files, the CSV bytes do not
depend on ``chunk_customers``, and memory stays bounded by one chunk of customers at any store size.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from laoke.contract import LANDING_FILES
from laoke.errors import LaokeError
from laoke.settings import rule

# Planted dirty kinds, in the order the summary lists them (all present, 0 when dirty=False).
DIRTY_KINDS: tuple[str, ...] = (
    # customers.phone shapes (one per customer at most)
    "phone_plus86",  # '+86 13812345678'
    "phone_0086",  # '008613812345678'
    "phone_86",  # '8613812345678'
    "phone_spaces",  # '138 1234 5678'
    "phone_dashes",  # '138-1234-5678'
    "phone_fullwidth",  # '１３８１２３４５６７８'
    "phone_landline",  # '0571-88886666'
    "phone_too_short",  # '1381234'
    "phone_empty",  # ''
    # customers
    "duplicate_customer",  # same person (name, phone in another shape) under a second customer_id
    "duplicate_customer_orders",  # orders filed under those second ids
    "impossible_birthday",  # '1890-01-01' or a date after end_date
    "registered_after_first_order",
    # orders (one kind per order at most)
    "future_order",  # ordered_at about five years after the real date (after end_date)
    "negative_paid_order",  # amount < 0 with status paid (not a refund)
    "test_order",  # status 'test'
    "duplicate_order_row",  # the same order row written twice
    "unparseable_date",  # ordered_at 'not a date'
    "ordered_at_slash",  # '2025/06/18 10:00'
    "ordered_at_yyyymmdd",  # '20250618'
    "ordered_at_chinese",  # '2025年6月18日'
    "ordered_at_epoch",  # '1750212000' (Unix seconds of the Asia/Shanghai local time)
    # order_lines
    "unknown_product",  # product_id 'P9999', not in products
)

UNKNOWN_PRODUCT_ID = "P9999"
STORE_UTC_OFFSET_SECONDS = 8 * 3600  # store-local time is Asia/Shanghai (UTC+8, no DST)

# ---------------------------------------------------------------------------------------------
# The store's reference data
# ---------------------------------------------------------------------------------------------

COMPLEMENTARY: dict[str, tuple[str, ...]] = {
    "face_mask": ("serum", "cream"),
    "serum": ("cream", "eye_cream", "face_mask"),
    "toner": ("serum", "cream"),
    "cleanser": ("toner", "makeup_remover"),
    "makeup_remover": ("cleanser", "face_mask"),
    "cream": ("serum", "eye_cream"),
    "eye_cream": ("serum", "cream"),
    "sunscreen": ("makeup_remover", "cleanser"),
    "lipstick": ("makeup_remover",),
    "body_lotion": ("sunscreen",),
    "shampoo": ("conditioner", "hair_dryer"),
    "conditioner": ("shampoo",),
    "beauty_device": ("serum", "face_mask"),
    "cleansing_device": ("cleanser",),
    "hair_dryer": ("shampoo", "conditioner"),
}


@dataclass(frozen=True)
class _Product:
    category: str
    line: str
    name: str
    price_cents: int
    cycle_days: int | None  # None: durable
    weight: float  # relative popularity of a first pick


def _p(category: str, line: str, name: str, price: float, cycle: int | None, weight: float) -> _Product:
    return _Product(category, line, name, int(round(price * 100)), cycle, weight)


PRODUCTS: tuple[_Product, ...] = (
    # face masks: the cycle is the pack size (one mask a day)
    _p("face_mask", "玻尿酸水光", "玻尿酸补水面膜 10片装", 79, 10, 9),
    _p("face_mask", "玻尿酸水光", "玻尿酸补水面膜 30片装", 199, 30, 5),
    _p("face_mask", "胶原修护", "胶原蛋白修护面膜 5片装", 59, 5, 3),
    _p("face_mask", "胶原修护", "胶原蛋白修护面膜 10片装", 109, 10, 4),
    _p("face_mask", "胶原修护", "胶原蛋白修护面膜 30片装", 289, 30, 2),
    _p("face_mask", "清洁泥膜", "净颜清洁泥膜 100g", 99, 30, 2),
    # serums
    _p("serum", "玻尿酸水光", "水光精华 30ml", 189, 30, 6),
    _p("serum", "玻尿酸水光", "水光精华 50ml", 289, 45, 3),
    _p("serum", "玻尿酸水光", "水光精华 Pro 50ml", 499, 45, 1.5),
    _p("serum", "烟酰胺亮白", "烟酰胺亮白精华 30ml", 159, 30, 4),
    _p("serum", "烟酰胺亮白", "烟酰胺亮白精华 50ml", 239, 45, 2),
    _p("serum", "时光抗老", "视黄醇抗老精华 30ml", 359, 40, 2),
    # toners
    _p("toner", "玻尿酸水光", "水光爽肤水 150ml", 99, 45, 4),
    _p("toner", "玻尿酸水光", "水光爽肤水 300ml", 169, 90, 2),
    _p("toner", "烟酰胺亮白", "亮白精华水 200ml", 139, 60, 2),
    # cleansers and make-up removers
    _p("cleanser", "氨基酸洁净", "氨基酸洁面乳 100g", 59, 60, 5),
    _p("cleanser", "氨基酸洁净", "氨基酸洁面乳 200g", 99, 120, 2),
    _p("cleanser", "氨基酸洁净", "氨基酸洁面慕斯 150ml", 79, 60, 2),
    _p("makeup_remover", "氨基酸洁净", "温和卸妆油 150ml", 129, 60, 3),
    _p("makeup_remover", "氨基酸洁净", "卸妆水 400ml", 89, 75, 2),
    # creams
    _p("cream", "玻尿酸水光", "水光保湿面霜 50g", 199, 45, 4),
    _p("cream", "时光抗老", "时光抗老面霜 50g", 399, 60, 2),
    _p("cream", "时光抗老", "时光抗老面霜 臻享版 50g", 699, 60, 1),
    _p("cream", "胶原修护", "胶原修护霜 30g", 259, 45, 2),
    # eye creams
    _p("eye_cream", "时光抗老", "淡纹眼霜 15g", 259, 60, 2),
    _p("eye_cream", "时光抗老", "抗皱紧致眼霜 20g", 429, 75, 1),
    # sunscreens
    _p("sunscreen", "清透防晒", "清透防晒乳 SPF50 40ml", 129, 30, 4),
    _p("sunscreen", "清透防晒", "清透防晒乳 SPF50 60ml", 169, 45, 2),
    _p("sunscreen", "清透防晒", "防晒喷雾 150ml", 139, 60, 2),
    # lipsticks
    _p("lipstick", "丝绒唇妆", "丝绒哑光口红 #01 正红", 169, 90, 2),
    _p("lipstick", "丝绒唇妆", "丝绒哑光口红 #03 豆沙", 169, 90, 2),
    _p("lipstick", "丝绒唇妆", "丝绒口红礼盒 三支装", 459, 180, 1),
    _p("lipstick", "水润唇妆", "水润唇膏 3.5g", 69, 60, 2),
    # body
    _p("body_lotion", "香氛身体", "香氛保湿身体乳 250ml", 99, 60, 2),
    _p("body_lotion", "香氛身体", "香氛保湿身体乳 500ml", 169, 120, 1),
    # hair care
    _p("shampoo", "氨基酸护发", "氨基酸洗发水 400ml", 69, 45, 4),
    _p("shampoo", "氨基酸护发", "氨基酸洗发水 750ml", 109, 75, 2),
    _p("shampoo", "防脱固发", "防脱固发洗发水 400ml", 139, 45, 2),
    _p("shampoo", "防脱固发", "防脱固发洗发水 套装", 259, 90, 1),
    _p("conditioner", "氨基酸护发", "氨基酸护发素 400ml", 79, 45, 2),
    _p("conditioner", "防脱固发", "防脱固发护发精华 100ml", 199, 60, 1),
    # durable devices: never come due
    _p("beauty_device", "射频美容仪", "射频美容仪 标准版", 1299, None, 0.6),
    _p("beauty_device", "射频美容仪", "射频美容仪 Pro", 2599, None, 0.3),
    _p("beauty_device", "导入仪", "离子导入美容仪", 699, None, 0.4),
    _p("cleansing_device", "洁面仪", "声波洁面仪", 399, None, 0.5),
    _p("cleansing_device", "洁面仪", "声波洁面仪 Pro", 599, None, 0.2),
    _p("hair_dryer", "高速吹风机", "高速吹风机", 599, None, 0.6),
    _p("hair_dryer", "高速吹风机", "高速吹风机 Pro", 1299, None, 0.3),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余"
SURNAME_WEIGHTS = (
    7.1, 7.0, 6.7, 5.4, 4.5, 3.1, 2.2, 2.0, 1.8, 1.7, 1.5, 1.4, 1.3, 1.2, 1.2, 1.1, 1.1, 1.0, 1.0, 0.9,
    0.9, 0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4,
)
GIVEN_F = "芳娜敏静丽艳娟霞婷雪琳颖欣悦怡佳梦雨思晓婉倩璐瑶萱涵琪晨露薇蕾嘉妍月彤菲诗"
GIVEN_M = "伟强磊军洋勇杰涛明超鹏浩宇俊辉斌峰刚健波亮鑫毅晨博文阳凯"

REGIONS: tuple[tuple[str, str, float], ...] = (
    ("广东", "广州", 5), ("广东", "深圳", 5), ("广东", "东莞", 2), ("广东", "佛山", 2),
    ("浙江", "杭州", 5), ("浙江", "宁波", 2), ("浙江", "温州", 1.5),
    ("江苏", "南京", 3), ("江苏", "苏州", 3), ("江苏", "无锡", 1.5),
    ("上海", "上海", 6), ("北京", "北京", 5), ("天津", "天津", 1.5), ("重庆", "重庆", 2),
    ("山东", "济南", 1.5), ("山东", "青岛", 1.5), ("四川", "成都", 3.5), ("湖北", "武汉", 2.5),
    ("福建", "福州", 1.5), ("福建", "厦门", 1.5), ("河南", "郑州", 2), ("湖南", "长沙", 2),
    ("陕西", "西安", 2), ("辽宁", "沈阳", 1.2), ("辽宁", "大连", 1), ("安徽", "合肥", 1.5),
    ("河北", "石家庄", 1), ("云南", "昆明", 1), ("广西", "南宁", 1), ("江西", "南昌", 1),
    ("黑龙江", "哈尔滨", 0.8), ("吉林", "长春", 0.6), ("山西", "太原", 0.6), ("贵州", "贵阳", 0.6),
    ("新疆", "乌鲁木齐", 0.4), ("内蒙古", "呼和浩特", 0.4), ("海南", "海口", 0.5), ("甘肃", "兰州", 0.4),
)

MOBILE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    170, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 195,
    198, 199,
)
LANDLINE_AREAS = ("010", "021", "0571", "020", "0755", "028", "027", "025", "0512")

CHANNELS = ("tmall", "taobao", "douyin", "jd")
CHANNEL_WEIGHTS = (0.45, 0.2, 0.25, 0.1)

# Order hour of day (store-local), evening-heavy like Chinese e-commerce.
HOUR_WEIGHTS = (
    3.0, 1.5, 0.8, 0.4, 0.3, 0.3, 0.6, 1.2, 2.0, 3.5, 5.0, 5.0,
    5.5, 5.0, 5.0, 5.0, 5.0, 4.5, 4.5, 5.5, 7.0, 8.5, 8.0, 5.5,
)

# Chinese New Year; the 年货节 promotion runs from 21 to 8 days before it.
CNY_DATES: dict[int, date] = {
    2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12), 2022: date(2022, 2, 1),
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10),
    2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
    2029: date(2029, 2, 13), 2030: date(2030, 2, 3),
}

# Per promotion kind: days ahead an order due may wait for it, the share of a customer's promotion
# affinity that applies, and its weight among promotion-time registrations. 双11 is the biggest.
PROMO_KINDS: dict[str, tuple[int, float, float]] = {
    "0618": (25, 0.85, 2.0),
    "1111": (35, 1.0, 3.0),
    "1212": (14, 0.6, 1.0),
    "cny": (21, 0.7, 1.5),
}

OPT_OUT_REPLIES = ("T", "td", "Ｔ", "退订", " 退订。", "STOP", "unsubscribe", "取消")
OPT_OUT_REPLY_WEIGHTS = (40, 10, 5, 25, 5, 5, 3, 7)

# Behaviour knobs (shares are of customers, orders or lines as named).
PROSPECT_SHARE = 0.10
MAX_ORDERS_PER_CUSTOMER = 200
STATUS_SHARES = (("cancelled", 0.012), ("unpaid", 0.010), ("refunded", 0.010))
REFUND_LINE_SHARE = 0.011  # of paid orders: a negative refund line instead of status refunded
FREE_ORDER_SHARE = 0.003
OPT_OUT_SHARE = 0.03
OPT_IN_AGAIN_SHARE = 0.12  # of opted-out phones
BLACKLIST_SHARE = 0.002

PHONE_DIRT = (
    ("phone_plus86", 0.010), ("phone_0086", 0.003), ("phone_86", 0.003), ("phone_spaces", 0.005),
    ("phone_dashes", 0.005), ("phone_fullwidth", 0.002), ("phone_landline", 0.003),
    ("phone_too_short", 0.002), ("phone_empty", 0.010),
)
ORDER_DIRT = (
    ("future_order", 0.0005), ("negative_paid_order", 0.0003), ("test_order", 0.001),
    ("duplicate_order_row", 0.0003), ("unparseable_date", 0.0001), ("ordered_at_slash", 0.0008),
    ("ordered_at_yyyymmdd", 0.0005), ("ordered_at_chinese", 0.0005), ("ordered_at_epoch", 0.0005),
)
DUPLICATE_CUSTOMER_SHARE = 0.006  # of buyers with 2+ orders and a clean phone
IMPOSSIBLE_BIRTHDAY_SHARE = 0.0005
REGISTERED_AFTER_FIRST_ORDER_SHARE = 0.003
UNKNOWN_PRODUCT_SHARE = 0.0002

# ---------------------------------------------------------------------------------------------
# Counter-based randomness: splitmix64 over (seed, entity, purpose)
# ---------------------------------------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
_PURPOSES: dict[str, np.uint64] = {}


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _purpose(name: str) -> np.uint64:
    if name not in _PURPOSES:
        _PURPOSES[name] = np.uint64((zlib.crc32(name.encode()) * _GOLDEN + 0x632BE59BD9B4E019) & _MASK64)
    return _PURPOSES[name]


def _root_key(seed: int) -> np.uint64:
    return _mix(np.array([(seed * _GOLDEN + 0x2545F4914F6CDD1D) & _MASK64], dtype=np.uint64))[0]


def _child(keys: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Key of the n-th child (order k of a customer, line j of an order) of each key."""
    n64 = np.asarray(n).astype(np.uint64)
    return _mix(keys + (n64 + np.uint64(1)) * np.uint64(_GOLDEN))


def _u(keys: np.ndarray, purpose: str) -> np.ndarray:
    """Uniforms in (0, 1), one per key."""
    x = _mix(keys ^ _purpose(purpose))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _normal(keys: np.ndarray, purpose: str) -> np.ndarray:
    u1, u2 = _u(keys, purpose + "#1"), _u(keys, purpose + "#2")
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _exponential(keys: np.ndarray, purpose: str) -> np.ndarray:
    return -np.log(_u(keys, purpose))


def _gamma(keys: np.ndarray, purpose: str, shape: float) -> np.ndarray:
    """Gamma(shape, 1) for a shape that is a multiple of 1/2: exponentials plus half a chi-square."""
    halves = int(round(shape * 2))
    out = np.zeros(keys.shape, dtype=np.float64)
    for i in range(halves // 2):
        out += _exponential(keys, f"{purpose}#e{i}")
    if halves % 2:
        out += 0.5 * _normal(keys, f"{purpose}#n") ** 2
    return out


def _kumaraswamy(keys: np.ndarray, purpose: str, a: float, b: float) -> np.ndarray:
    """A beta-like share in (0, 1) with a closed-form inverse CDF."""
    return (1.0 - (1.0 - _u(keys, purpose)) ** (1.0 / b)) ** (1.0 / a)


def _pick(u: np.ndarray, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _int_between(keys: np.ndarray, purpose: str, low: int, high: int) -> np.ndarray:
    """Integers in [low, high]."""
    return low + np.floor(_u(keys, purpose) * (high - low + 1)).astype(np.int64)


def _between(keys: np.ndarray, purpose: str, low: np.ndarray, high: np.ndarray | int) -> np.ndarray:
    """A time (seconds) in [low, high), per key; low when high is not after low."""
    return low + np.floor(_u(keys, purpose) * np.maximum(high - low, 0)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Formatting to text columns
# ---------------------------------------------------------------------------------------------


def _ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    digits = pa.array(np.asarray(nums, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, width=width, padding="0"), "")


def _ints(nums: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(nums, dtype=np.int64)).cast(pa.string())


def _money(cents: np.ndarray) -> pa.Array:
    cents = np.asarray(cents, dtype=np.int64)
    absolute = np.abs(cents)
    yuan = pa.array(absolute // 100).cast(pa.string())
    fen = pc.utf8_lpad(pa.array(absolute % 100).cast(pa.string()), width=2, padding="0")
    text = pc.binary_join_element_wise(yuan, fen, ".")
    return pc.if_else(pa.array(cents < 0), pc.binary_join_element_wise("-", text, ""), text)


def _timestamps(seconds: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS' (Arrow's cast: the same text as strftime, several times faster)."""
    return pa.array(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")).cast(pa.string())


def _dates(seconds: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD'."""
    days = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[D]")
    return pa.array(days).cast(pa.string())


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), arr)


def _replace(arr: pa.Array, idx: np.ndarray, values: list[str]) -> pa.Array:
    if len(idx) == 0:
        return arr
    mask = np.zeros(len(arr), dtype=bool)
    mask[idx] = True
    order = np.argsort(idx, kind="stable")
    return pc.replace_with_mask(arr, pa.array(mask), pa.array([values[i] for i in order], pa.string()))


def _take(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


# ---------------------------------------------------------------------------------------------
# Calendar and store constants, shared by every chunk
# ---------------------------------------------------------------------------------------------


@dataclass
class _Store:
    seed: int
    customers: int
    end_date: date
    dirty: bool
    root: np.uint64 = field(init=False)
    start_date: date = field(init=False)
    days: int = field(init=False)  # number of days in the window, end_date included
    day0_seconds: int = field(init=False)  # seconds since 1970 of start_date 00:00 (naive local)
    id_width: int = field(init=False)
    promo_ids: list[str] = field(init=False)
    promo_first: np.ndarray = field(init=False)  # day offsets
    promo_last: np.ndarray = field(init=False)
    promo_is_1111: np.ndarray = field(init=False)
    promo_lead: np.ndarray = field(init=False)  # days before a promotion an order may wait for it
    promo_pull: np.ndarray = field(init=False)
    promo_reg_weight: np.ndarray = field(init=False)
    window_promos: np.ndarray = field(init=False)  # promotions inside the window
    years: float = 2.5

    def __post_init__(self) -> None:
        self.root = _root_key(self.seed)
        self.days = max(30, int(round(self.years * 365.25)))
        self.start_date = self.end_date - timedelta(days=self.days - 1)
        self.day0_seconds = (self.start_date - date(1970, 1, 1)).days * 86400
        self.id_width = max(7, len(str(2 * self.customers)))
        promos: list[tuple[date, date, str]] = []
        for year in range(self.start_date.year - 1, self.end_date.year + 2):
            promos.append((date(year, 6, 1), date(year, 6, 18), f"{year}-0618"))
            promos.append((date(year, 11, 1), date(year, 11, 11), f"{year}-1111"))
            promos.append((date(year, 12, 1), date(year, 12, 12), f"{year}-1212"))
            if year in CNY_DATES:
                cny = CNY_DATES[year]
                promos.append((cny - timedelta(days=21), cny - timedelta(days=8), f"{year}-cny"))
        promos = sorted(p for p in promos if p[1] >= self.start_date - timedelta(days=31))
        self.promo_ids = [p[2] for p in promos]
        self.promo_first = np.array([(p[0] - self.start_date).days for p in promos], dtype=np.int64)
        self.promo_last = np.array([(p[1] - self.start_date).days for p in promos], dtype=np.int64)
        self.promo_is_1111 = np.array([p[2].endswith("-1111") for p in promos], dtype=bool)
        kinds = [PROMO_KINDS[p[2].split("-")[1]] for p in promos]
        self.promo_lead = np.array([k[0] for k in kinds], dtype=np.int64)
        self.promo_pull = np.array([k[1] for k in kinds], dtype=np.float64)
        self.promo_reg_weight = np.array([k[2] for k in kinds], dtype=np.float64)
        in_window = (self.promo_last >= 0) & (self.promo_first < self.days)
        self.window_promos = np.flatnonzero(in_window)

    def promo_of(self, days: np.ndarray) -> np.ndarray:
        """Index of the promotion each day falls in, -1 for none."""
        idx = np.searchsorted(self.promo_first, days, side="right") - 1
        ok = (idx >= 0) & (days <= self.promo_last[np.maximum(idx, 0)])
        return np.where(ok, idx, -1)


@dataclass
class _Catalog:
    ids: pa.Array
    price_cents: np.ndarray
    cycle: np.ndarray  # 0 for durable goods
    durable: np.ndarray
    weights: np.ndarray
    upsell: np.ndarray  # index of the next dearer product of the same line and category, -1 if none
    comp_offsets: np.ndarray  # complementary products of each product: comp_flat[off[p]:off[p+1]]
    comp_flat: np.ndarray

    @classmethod
    def build(cls) -> "_Catalog":
        n = len(PRODUCTS)
        upsell = np.full(n, -1, dtype=np.int64)
        for i, p in enumerate(PRODUCTS):
            dearer = [
                (q.price_cents, j)
                for j, q in enumerate(PRODUCTS)
                if q.line == p.line and q.category == p.category and q.price_cents >= p.price_cents * 1.2
            ]
            if dearer:
                upsell[i] = min(dearer)[1]
        offsets, flat = [0], []
        for p in PRODUCTS:
            wanted = COMPLEMENTARY.get(p.category, ())
            flat.extend(j for j, q in enumerate(PRODUCTS) if q.category in wanted)
            offsets.append(len(flat))
        return cls(
            ids=pa.array([f"P{i + 1:04d}" for i in range(n)], pa.string()),
            price_cents=np.array([p.price_cents for p in PRODUCTS], dtype=np.int64),
            cycle=np.array([p.cycle_days or 0 for p in PRODUCTS], dtype=np.int64),
            durable=np.array([p.cycle_days is None for p in PRODUCTS], dtype=bool),
            weights=np.array([p.weight for p in PRODUCTS], dtype=np.float64),
            upsell=upsell,
            comp_offsets=np.array(offsets, dtype=np.int64),
            comp_flat=np.array(flat, dtype=np.int64),
        )

    def table(self) -> pa.Table:
        return pa.table(
            {
                "product_id": self.ids,
                "category": pa.array([p.category for p in PRODUCTS]),
                "name": pa.array([p.name for p in PRODUCTS]),
                "product_line": pa.array([p.line for p in PRODUCTS]),
                "price": _money(self.price_cents),
                "consumption_cycle_days": pa.array(
                    [str(p.cycle_days) if p.cycle_days else None for p in PRODUCTS], pa.string()
                ),
                "complementary_categories": pa.array(
                    [";".join(COMPLEMENTARY.get(p.category, ())) or None for p in PRODUCTS], pa.string()
                ),
                "is_durable": pa.array(["true" if p.cycle_days is None else "false" for p in PRODUCTS]),
            }
        )


@dataclass
class _Progress:
    """What carries from one chunk to the next: global counters and the dirty tallies."""

    orders: int = 0  # orders numbered so far (order_id sequence)
    lines: int = 0
    duplicates: int = 0  # second customer ids handed out
    dirty: dict[str, int] = field(default_factory=lambda: {k: 0 for k in DIRTY_KINDS})


def _force(codes: np.ndarray, kind: int, eligible: np.ndarray, numbers: np.ndarray, at: int, prior: int) -> None:
    """Make sure a planted kind occurs at least once in a store big enough to hold it.

    If nothing of `kind` was planted before, the first eligible, still-clean entity numbered `at` or
    later gets it, unless a random plant of the kind precedes it. Chunking cannot change the result:
    the rule only looks at entities in global order.
    """
    if prior:
        return
    cand = np.flatnonzero(eligible & (codes == 0) & (numbers >= at))
    if cand.size == 0:
        return
    first = cand[0]
    if (codes[:first] == kind).any():
        return
    codes[first] = kind


def _planted(codes: np.ndarray, kinds: tuple[tuple[str, float], ...], u: np.ndarray, eligible: np.ndarray,
             numbers: np.ndarray, progress: _Progress, first_at: int, step: int) -> np.ndarray:
    """Codes 1..len(kinds) for planted kinds (0 clean): a small random share plus the forced ones."""
    cum = np.cumsum([share for _, share in kinds])
    codes[:] = np.where(eligible, np.searchsorted(cum, u, side="right") + 1, 0)
    codes[codes > len(kinds)] = 0
    for i, (name, _) in enumerate(kinds):
        _force(codes, i + 1, eligible, numbers, first_at + step * i, progress.dirty[name])
    return codes


# ---------------------------------------------------------------------------------------------
# One chunk of customers
# ---------------------------------------------------------------------------------------------


def _chunk(store: _Store, cat: _Catalog, first: int, last: int, progress: _Progress) -> dict[str, pa.Table]:
    """Customers numbered first+1 .. last, with their orders, lines, points and opt-outs."""
    n = last - first
    cnum = np.arange(first + 1, last + 1, dtype=np.int64)
    ckey = _child(np.full(n, store.root, dtype=np.uint64), cnum)
    days = store.days

    # --- who they are -------------------------------------------------------------------------
    prospect = _u(ckey, "prospect") < PROSPECT_SHARE
    in_promo = _u(ckey, "reg_in_promo") < 0.2
    wp = store.window_promos
    reg_promo = wp[_pick(_u(ckey, "reg_promo"), store.promo_reg_weight[wp])] if len(wp) else None
    reg_day = np.floor(days * _u(ckey, "reg_day") ** 0.8).astype(np.int64)
    if reg_promo is not None:
        promo_len = store.promo_last[reg_promo] - store.promo_first[reg_promo] + 1
        promo_day = store.promo_first[reg_promo] + np.floor(_u(ckey, "reg_promo_day") * promo_len).astype(np.int64)
        reg_day = np.where(in_promo, promo_day, reg_day)
    reg_day = np.clip(reg_day, 0, days - 1)
    reg_tod = _pick(_u(ckey, "reg_hour"), HOUR_WEIGHTS) * 3600 + _int_between(ckey, "reg_sec", 0, 3599)

    # --- buyers' behaviour: BG/NBD-like heterogeneity -------------------------------------------
    bpos = np.flatnonzero(~prospect)
    bkey = ckey[bpos]
    nb = len(bpos)
    p_drop = _kumaraswamy(bkey, "p_drop", 1.0, 3.2)  # dropout chance after each purchase
    rate = _gamma(bkey, "rate", 1.0) / 60.0  # non-replenishment purchases per day
    adherence = _u(bkey, "adherence")  # chance a repeat follows the product's cycle
    promo_affinity = 0.1 + 0.75 * _u(bkey, "promo_affinity") ** 1.5
    coupon_taste = 0.3 * _u(bkey, "coupon_taste") ** 2
    pref_channel = _pick(_u(bkey, "channel"), CHANNEL_WEIGHTS)

    delay = np.where(_u(bkey, "same_day") < 0.55, 0.0, 20.0 * _exponential(bkey, "delay"))
    day = reg_day[bpos] + delay
    prod = _pick(_u(bkey, "first_product"), cat.weights)
    alive = day < days

    rec_b, rec_k, rec_day, rec_prod, rec_qty, rec_key = [], [], [], [], [], []
    k = 0
    while k < MAX_ORDERS_PER_CUSTOMER:
        act = np.flatnonzero(alive)
        if act.size == 0:
            break
        okey = _child(bkey[act], k)
        dint = np.floor(day[act]).astype(np.int64)
        p1 = prod[act]
        uq = _u(okey, "qty1")
        q1 = 1 + (uq > 0.8).astype(np.int64) + (uq > 0.95).astype(np.int64)
        rec_b.append(act)
        rec_k.append(np.full(act.size, k, dtype=np.int64))
        rec_day.append(dint)
        rec_prod.append(p1)
        rec_qty.append(q1)
        rec_key.append(okey)

        dropped = _u(okey, "drop") < p_drop[act]
        cycle = cat.cycle[p1]
        follows_cycle = (cycle > 0) & (_u(okey, "adhere") < adherence[act])
        gap_cycle = cycle * q1 * np.exp(0.05 + 0.3 * _normal(okey, "gap_z"))
        gap_free = _exponential(okey, "gap_e") / rate[act]
        gap = np.maximum(np.where(follows_cycle, gap_cycle, gap_free), 1.0)
        nxt = day[act] + gap

        # an order due shortly before a promotion often waits for it (双11 most of all on the 11th)
        ndi = np.floor(nxt).astype(np.int64)
        pidx = np.searchsorted(store.promo_first, ndi, side="left")
        has = pidx < len(store.promo_first)
        pidx = np.minimum(pidx, len(store.promo_first) - 1)
        lead = store.promo_first[pidx] - ndi
        pull_p = promo_affinity[act] * store.promo_pull[pidx]
        pulled = has & (lead <= store.promo_lead[pidx]) & (_u(okey, "pull") < pull_p)
        plen = store.promo_last[pidx] - store.promo_first[pidx] + 1
        pday = store.promo_first[pidx] + np.floor(_u(okey, "pull_day") * plen)
        on_11 = store.promo_is_1111[pidx] & (_u(okey, "pull_11") < 0.45)
        pday = np.where(on_11, store.promo_last[pidx], pday) + _u(okey, "pull_frac")
        nxt = np.where(pulled, pday, nxt)

        # the next order's main product: the same again, an up-sell, or something new
        u_next = _u(okey, "next_product")
        same = u_next < np.where(cat.durable[p1], 0.05, 0.55)
        up = cat.upsell[p1]
        to_upsell = same & (up >= 0) & (_u(okey, "upsell") < 0.1)
        fresh = _pick(_u(okey, "fresh_product"), cat.weights)
        prod[act] = np.where(to_upsell, up, np.where(same, p1, fresh))

        day[act] = nxt
        alive[act] = ~dropped & (nxt < days)
        k += 1

    if rec_b:
        o_b = np.concatenate(rec_b)
        o_k = np.concatenate(rec_k)
        order = np.argsort(o_b * (MAX_ORDERS_PER_CUSTOMER + 1) + o_k, kind="stable")
        o_b, o_k = o_b[order], o_k[order]
        o_day = np.concatenate(rec_day)[order]
        o_prod = np.concatenate(rec_prod)[order]
        o_qty1 = np.concatenate(rec_qty)[order]
        o_key = np.concatenate(rec_key)[order]
    else:
        o_b = o_k = o_day = o_prod = o_qty1 = np.zeros(0, dtype=np.int64)
        o_key = np.zeros(0, dtype=np.uint64)
    n_orders = len(o_b)
    o_cpos = bpos[o_b]  # customer position in the chunk
    o_num = progress.orders + 1 + np.arange(n_orders, dtype=np.int64)  # global order number

    # --- order attributes ------------------------------------------------------------------------
    o_promo = store.promo_of(o_day) if n_orders else np.zeros(0, dtype=np.int64)
    hour = _pick(_u(o_key, "hour"), HOUR_WEIGHTS)
    is_11 = (o_promo >= 0) & store.promo_is_1111[np.maximum(o_promo, 0)] & (
        o_day == store.promo_last[np.maximum(o_promo, 0)]
    )
    hour = np.where(is_11 & (_u(o_key, "midnight") < 0.3), 0, hour)
    o_sec = store.day0_seconds + o_day * 86400 + hour * 3600 + _int_between(o_key, "second", 0, 3599)

    ust = _u(o_key, "status")
    status_code = np.zeros(n_orders, dtype=np.int64)  # 0 paid, 1 cancelled, 2 unpaid, 3 refunded, 4 test
    edge = 0.0
    for code, (_, share) in enumerate(STATUS_SHARES, start=1):
        status_code[(ust >= edge) & (ust < edge + share)] = code
        edge += share
    refund_line = (status_code == 0) & (_u(o_key, "refund_line") < REFUND_LINE_SHARE)

    in_promo_o = o_promo >= 0
    promo_rate = np.array([0.10, 0.15, 0.20, 0.25, 0.30])[_pick(_u(o_key, "promo_rate"), (3, 3, 3, 2, 1))]
    coupon = _u(o_key, "coupon") < coupon_taste[o_b]
    coupon_rate = np.array([0.05, 0.08, 0.10])[_pick(_u(o_key, "coupon_rate"), (2, 1, 1))]
    rate_o = np.where(in_promo_o, promo_rate, np.where(coupon, coupon_rate, 0.0))
    free = _u(o_key, "free") < FREE_ORDER_SHARE
    rate_o = np.where(free, 1.0, rate_o)

    any_channel = _pick(_u(o_key, "channel_any"), CHANNEL_WEIGHTS)
    channel = np.where(_u(o_key, "channel_same") < 0.85, pref_channel[o_b], any_channel)

    # --- lines -------------------------------------------------------------------------------------
    ul = _u(o_key, "n_lines")
    n_lines = 1 + (ul > 0.58).astype(np.int64) + (ul > 0.86).astype(np.int64) + (ul > 0.96).astype(np.int64)
    total_lines = int(n_lines.sum())
    l_ord = np.repeat(np.arange(n_orders, dtype=np.int64), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    l_j = np.arange(total_lines, dtype=np.int64) - starts[l_ord]
    l_key = _child(o_key[l_ord], l_j)
    main = o_prod[l_ord]
    c_lo, c_hi = cat.comp_offsets[main], cat.comp_offsets[main + 1]
    has_comp = c_hi > c_lo
    comp_at = c_lo + np.floor(_u(l_key, "comp") * (c_hi - c_lo)).astype(np.int64)
    comp_pick = cat.comp_flat[np.minimum(comp_at, len(cat.comp_flat) - 1)]
    cross = has_comp & (_u(l_key, "cross") < 0.6)
    other = np.where(cross, comp_pick, _pick(_u(l_key, "other_product"), cat.weights))
    other = np.where(other == main, (other + 1) % len(PRODUCTS), other)
    l_prod = np.where(l_j == 0, main, other)
    l_qty = np.where(l_j == 0, o_qty1[l_ord], 1 + (_u(l_key, "qty") > 0.85).astype(np.int64))
    l_price = cat.price_cents[l_prod]
    l_gross = l_price * l_qty
    l_disc = np.rint(l_gross * rate_o[l_ord]).astype(np.int64)
    l_amount = l_gross - l_disc

    o_amount = np.bincount(l_ord, weights=l_amount, minlength=n_orders).astype(np.int64)
    o_disc = np.bincount(l_ord, weights=l_disc, minlength=n_orders).astype(np.int64)
    o_items = np.bincount(l_ord, weights=l_qty, minlength=n_orders).astype(np.int64)

    # refund lines: a negative line of part of the first line, same order
    r_ord = np.flatnonzero(refund_line & (o_amount > 0))
    r_first = starts[r_ord]
    r_qty = -np.minimum(l_qty[r_first], 1 + (_u(o_key[r_ord], "refund_qty") > 0.7).astype(np.int64))
    r_amount = -(l_amount[r_first] * -r_qty // l_qty[r_first])
    r_line_no = n_lines[r_ord]  # 0-based index after the order's positive lines

    # --- customers (dirty shapes planted below) ------------------------------------------------------
    orders_per_b = np.bincount(o_b, minlength=nb)
    first_order_sec = np.full(nb, -1, dtype=np.int64)
    if n_orders:
        first_idx = np.flatnonzero(o_k == 0)
        first_order_sec[o_b[first_idx]] = o_sec[first_idx]
    reg_sec = store.day0_seconds + reg_day * 86400 + reg_tod
    # a first order on the registration day comes after the registration
    fb = np.flatnonzero(first_order_sec >= 0)
    fc = bpos[fb]
    clash = reg_sec[fc] > first_order_sec[fb]
    before = first_order_sec[fb[clash]] - _int_between(ckey[fc[clash]], "reg_before", 60, 1800)
    reg_sec[fc[clash]] = np.maximum(before, store.day0_seconds + reg_day[fc[clash]] * 86400)

    gender_code = _pick(_u(ckey, "gender"), (86, 11, 3))  # F, M, unknown
    surname = _pick(_u(ckey, "surname"), SURNAME_WEIGHTS)
    given_f, given_m = pa.array(list(GIVEN_F)), pa.array(list(GIVEN_M))
    male = pa.array(gender_code == 1)

    def given(purpose: str) -> pa.Array:
        u = _u(ckey, purpose)
        as_m = _take(given_m, np.minimum(np.floor(u * len(GIVEN_M)), len(GIVEN_M) - 1))
        as_f = _take(given_f, np.minimum(np.floor(u * len(GIVEN_F)), len(GIVEN_F) - 1))
        return pc.if_else(male, as_m, as_f)

    given1 = given("given1")
    given2 = pc.if_else(pa.array(_u(ckey, "given_len") < 0.7), given("given2"), pa.scalar("", pa.string()))
    names = pc.binary_join_element_wise(_take(pa.array(list(SURNAMES)), surname), given1, given2, "")
    genders = _null_where(_take(pa.array(["F", "M", "F"]), gender_code), gender_code == 2)

    # phones: unique by construction (the last eight digits are a bijection of the customer number)
    suffix = (cnum * 73939133 + (int(store.root) % 100_000_000)) % 100_000_000
    prefixes = np.array(MOBILE_PREFIXES, dtype=np.int64)
    prefix = prefixes[_pick(_u(ckey, "phone_prefix"), np.ones(len(prefixes)))]
    phone_digits = prefix * 100_000_000 + suffix
    phones = _ints(phone_digits)

    age_years = 18 + 42 * _u(ckey, "age") ** 1.6  # 18-60, most in their twenties and thirties
    age_days = np.floor(age_years * 365.25).astype(np.int64) + _int_between(ckey, "age_day", 0, 364)
    end_day_seconds = store.day0_seconds + (days - 1) * 86400
    birthdays = _dates(end_day_seconds - age_days * 86400)
    birthdays = _null_where(birthdays, _u(ckey, "no_birthday") < 0.08)
    region = _pick(_u(ckey, "region"), [r[2] for r in REGIONS])
    provinces = _take(pa.array([r[0] for r in REGIONS]), region)
    cities = _take(pa.array([r[1] for r in REGIONS]), region)

    # --- dirty customers ---------------------------------------------------------------------------
    phone_code = np.zeros(n, dtype=np.int64)
    bday_bad = np.zeros(n, dtype=np.int64)
    reg_late = np.zeros(n, dtype=np.int64)
    dup = np.zeros(n, dtype=np.int64)
    has_orders = np.zeros(n, dtype=bool)
    has_orders[bpos] = orders_per_b > 0
    n_orders_c = np.zeros(n, dtype=np.int64)
    n_orders_c[bpos] = orders_per_b
    everyone = np.ones(n, dtype=bool)
    if store.dirty:
        _planted(phone_code, PHONE_DIRT, _u(ckey, "dirty_phone"), everyone, cnum, progress, 3, 4)
        bday_bad[:] = (_u(ckey, "dirty_birthday") < IMPOSSIBLE_BIRTHDAY_SHARE).astype(np.int64)
        _force(bday_bad, 1, everyone, cnum, 41, progress.dirty["impossible_birthday"])
        dup_ok = has_orders & (n_orders_c >= 2) & (phone_code == 0)
        dup[:] = (dup_ok & (_u(ckey, "dirty_dup") < DUPLICATE_CUSTOMER_SHARE)).astype(np.int64)
        _force(dup, 1, dup_ok, cnum, 43, progress.dirty["duplicate_customer"])
        late_ok = has_orders & (dup == 0)
        reg_late[:] = (late_ok & (_u(ckey, "dirty_reg_late") < REGISTERED_AFTER_FIRST_ORDER_SHARE)).astype(np.int64)
        _force(reg_late, 1, late_ok, cnum, 47, progress.dirty["registered_after_first_order"])

    counts: dict[str, int] = {k: 0 for k in DIRTY_KINDS}
    p_idx = np.flatnonzero(phone_code)
    if p_idx.size:
        plain = [str(v) for v in phone_digits[p_idx]]
        shaped = [
            _shape_phone(s, PHONE_DIRT[c - 1][0], int(x))
            for s, c, x in zip(plain, phone_code[p_idx], (_u(ckey[p_idx], "landline") * 1e9).astype(np.int64))
        ]
        phones = _replace(phones, p_idx, shaped)
        for c in phone_code[p_idx]:
            counts[PHONE_DIRT[c - 1][0]] += 1
    b_idx = np.flatnonzero(bday_bad)
    if b_idx.size:
        future = store.end_date + timedelta(days=400)
        bad = ["1890-01-01" if _u(ckey[i : i + 1], "bday_kind")[0] < 0.5 else future.isoformat() for i in b_idx]
        birthdays = _replace(birthdays, b_idx, bad)
        counts["impossible_birthday"] = int(b_idx.size)
    late_idx = np.flatnonzero(reg_late)
    if late_idx.size:
        late_b = np.searchsorted(bpos, late_idx)
        first_sec = first_order_sec[late_b]
        later = first_sec + 86400 * _int_between(ckey[late_idx], "late_days", 1, 60)
        end_sec = store.day0_seconds + days * 86400 - 1
        reg_sec[late_idx] = np.minimum(later, np.maximum(end_sec, first_sec + 3600))  # not after end_date
        counts["registered_after_first_order"] = int(late_idx.size)

    # second ids: same name, same phone in another shape, later orders filed under the new id
    dup_idx = np.flatnonzero(dup)
    dup_num = np.zeros(n, dtype=np.int64)
    dup_num[dup_idx] = store.customers + progress.duplicates + 1 + np.arange(dup_idx.size)
    o_moved = np.zeros(n_orders, dtype=bool)
    if dup_idx.size:
        split = (n_orders_c + 1) // 2
        o_moved = (dup[o_cpos] == 1) & (o_k >= split[o_cpos])
        counts["duplicate_customer"] = int(dup_idx.size)
        counts["duplicate_customer_orders"] = int(o_moved.sum())
    o_cnum = np.where(o_moved, dup_num[o_cpos], cnum[o_cpos])

    # --- dirty orders and lines --------------------------------------------------------------------------
    o_code = np.zeros(n_orders, dtype=np.int64)
    l_unknown = np.zeros(total_lines, dtype=np.int64)
    if store.dirty and n_orders:
        eligible = (status_code == 0) & (o_amount > 0) & ~refund_line
        _planted(o_code, ORDER_DIRT, _u(o_key, "dirty_order"), eligible, o_num, progress, 11, 7)
        l_num = progress.lines + 1 + np.arange(total_lines, dtype=np.int64)
        l_unknown[:] = (_u(l_key, "dirty_line") < UNKNOWN_PRODUCT_SHARE).astype(np.int64)
        _force(l_unknown, 1, np.ones(total_lines, dtype=bool), l_num, 29, progress.dirty["unknown_product"])
    kind_of = {name: i + 1 for i, (name, _) in enumerate(ORDER_DIRT)}
    for name, code in kind_of.items():
        counts[name] = int((o_code == code).sum())
    counts["unknown_product"] = int(l_unknown.sum())

    # points are the loyalty system's ledger: it saw the real orders, not the export's mess
    status_names = pa.array(["paid", "cancelled", "unpaid", "refunded", "test"])
    status_code = np.where(o_code == kind_of["test_order"], 4, status_code)
    paid = status_code == 0
    points_tbl = _points(
        store, cnum, bpos, bkey, orders_per_b, first_order_sec,
        o_b, o_k, o_cpos, o_cnum, o_num, o_key, o_sec, o_amount, paid,
    )

    # --- orders table ---------------------------------------------------------------------------------
    ordered_at = _timestamps(np.where(o_code == kind_of["future_order"], o_sec + 1826 * 86400, o_sec))
    alt_idx = np.flatnonzero(np.isin(o_code, [kind_of[k] for k in (
        "unparseable_date", "ordered_at_slash", "ordered_at_yyyymmdd", "ordered_at_chinese", "ordered_at_epoch")]))
    if alt_idx.size:
        texts = [_alt_timestamp(int(o_sec[i]), ORDER_DIRT[o_code[i] - 1][0]) for i in alt_idx]
        ordered_at = _replace(ordered_at, alt_idx, texts)
    amount = np.where(o_code == kind_of["negative_paid_order"], -o_amount, o_amount)
    promo_ids = _null_where(_take(pa.array(store.promo_ids), np.maximum(o_promo, 0)), (o_promo < 0) | free)
    order_ids = _ids("O", o_num, 10)
    orders = pa.table(
        {
            "customer_id": _ids("C", o_cnum, store.id_width),
            "ordered_at": ordered_at,
            "amount": _money(amount),
            "order_id": order_ids,
            "quantity": _ints(o_items),
            "status": _take(status_names, status_code),
            "discount_amount": _money(o_disc),
            "promotion_id": promo_ids,
            "channel": _take(pa.array(list(CHANNELS)), channel),
        }
    )
    dup_rows = np.flatnonzero(o_code == kind_of["duplicate_order_row"])
    if dup_rows.size:
        rows = np.sort(np.concatenate([np.arange(n_orders), dup_rows]), kind="stable")
        orders = orders.take(pa.array(rows))

    # --- order_lines table ----------------------------------------------------------------------------
    all_ord = np.concatenate([l_ord, r_ord])
    all_no = np.concatenate([l_j, r_line_no])
    lorder = np.argsort(all_ord * 8 + all_no, kind="stable")
    product_ids = _take(cat.ids, np.concatenate([l_prod, l_prod[r_first]]))
    product_ids = _replace(product_ids, np.flatnonzero(l_unknown), [UNKNOWN_PRODUCT_ID] * int(l_unknown.sum()))
    is_refund = np.concatenate([np.zeros(total_lines, dtype=bool), np.ones(r_ord.size, dtype=bool)])
    line_disc = _null_where(_money(np.concatenate([l_disc, np.zeros(r_ord.size, dtype=np.int64)])), is_refund)
    lines = pa.table(
        {
            "order_id": order_ids.take(pa.array(all_ord)),
            "product_id": product_ids,
            "quantity": _ints(np.concatenate([l_qty, r_qty])),
            "amount": _money(np.concatenate([l_amount, r_amount])),
            "line_id": _ints(all_no + 1),
            "unit_price": _money(np.concatenate([l_price, l_price[r_first]])),
            "discount_amount": line_disc,
        }
    ).take(pa.array(lorder))

    # --- customers table (second ids right after the first) -------------------------------------------
    reg_at = _timestamps(reg_sec)
    customers = pa.table(
        {
            "customer_id": _ids("C", cnum, store.id_width),
            "phone": phones,
            "name": names,
            "gender": genders,
            "birthday": birthdays,
            "province": provinces,
            "city": cities,
            "registered_at": reg_at,
        }
    )
    if dup_idx.size:
        moved_first = np.flatnonzero(o_moved & (o_k == ((n_orders_c + 1) // 2)[o_cpos]))
        first_moved_sec = np.zeros(n, dtype=np.int64)
        first_moved_sec[o_cpos[moved_first]] = o_sec[moved_first]
        # the second account was opened a few days before its first order, never before the first account
        opened = first_moved_sec[dup_idx] - _int_between(ckey[dup_idx], "dup_reg", 86400, 10 * 86400)
        dup_reg = np.maximum(opened, reg_sec[dup_idx])
        shapes = ("+86 {a}", "{s}", "{d}", "0086{a}", "{w}")
        dup_phones = []
        for i in dup_idx:
            a = str(phone_digits[i])
            shape = shapes[int(_u(ckey[i : i + 1], "dup_shape")[0] * len(shapes))]
            spaced, dashed = f"{a[:3]} {a[3:7]} {a[7:]}", f"{a[:3]}-{a[3:7]}-{a[7:]}"
            dup_phones.append(shape.format(a=a, s=spaced, d=dashed, w=_fullwidth(a)))
        second = pa.table(
            {
                "customer_id": _ids("C", dup_num[dup_idx], store.id_width),
                "phone": pa.array(dup_phones, pa.string()),
                "name": names.take(pa.array(dup_idx)),
                "gender": genders.take(pa.array(dup_idx)),
                "birthday": pa.nulls(dup_idx.size, pa.string()),
                "province": provinces.take(pa.array(dup_idx)),
                "city": cities.take(pa.array(dup_idx)),
                "registered_at": _timestamps(dup_reg),
            }
        )
        rows = np.argsort(np.concatenate([np.arange(n) * 2, dup_idx * 2 + 1]), kind="stable")
        customers = pa.concat_tables([customers, second]).take(pa.array(rows))

    opt_outs = _opt_outs(store, cnum, ckey, phones, reg_sec)

    # --- carry the counters -------------------------------------------------------------------------
    progress.orders += n_orders
    progress.lines += total_lines
    progress.duplicates += int(dup_idx.size)
    for k2, v in counts.items():
        progress.dirty[k2] += v
    return {"orders": orders, "order_lines": lines, "customers": customers, "opt_outs": opt_outs, "points": points_tbl}


def _points(
    store: _Store, cnum, bpos, bkey, orders_per_b, first_order_sec,  # customers, buyers
    o_b, o_k, o_cpos, o_cnum, o_num, o_key, o_sec, o_amount, paid,  # orders, sorted by customer then k
) -> pa.Table:
    """Purchase points on paid orders, review bonuses, redemptions at checkout, daily check-ins.

    A redemption spends at most what the customer's previous order earned, so no balance goes negative.
    """
    per_yuan = int(rule("points_per_yuan"))
    end_sec = store.day0_seconds + store.days * 86400 - 1
    earned = np.where(paid, (o_amount // 100) * per_yuan, 0)

    buy = np.flatnonzero(earned > 0)
    rev = np.flatnonzero(paid & (_u(o_key, "review") < 0.12))
    rev_sec = o_sec[rev] + 86400 * _int_between(o_key[rev], "review_days", 3, 10)
    rev_sec += _int_between(o_key[rev], "review_s", 0, 43199)
    rev = rev[rev_sec <= end_sec]
    rev_sec = rev_sec[rev_sec <= end_sec]
    # redeem at checkout what the previous order of the same customer earned, in hundreds
    prev = np.arange(len(o_k)) - 1
    has_prev = (o_k > 0) & (prev >= 0)
    prev_earned = np.where(has_prev, earned[np.maximum(prev, 0)], 0)
    same_id = has_prev & (o_cnum == o_cnum[np.maximum(prev, 0)])
    red = np.flatnonzero(paid & same_id & (prev_earned >= 100) & (_u(o_key, "redeem") < 0.2))
    red_pts = -np.minimum(prev_earned[red] // 100 * 100, 2000)

    # check-ins between the first order and a while after the last
    buyers = np.flatnonzero(first_order_sec >= 0)
    n_check = np.floor(_exponential(bkey[buyers], "checkins") * orders_per_b[buyers] * 0.8)
    n_check = np.minimum(n_check, 60).astype(np.int64)
    last_sec = np.zeros(len(bkey), dtype=np.int64)
    if len(o_b):
        np.maximum.at(last_sec, o_b, o_sec)
    c_b = np.repeat(buyers, n_check)
    c_j = np.arange(c_b.size) - np.repeat(np.cumsum(n_check) - n_check, n_check)
    c_key = _child(bkey[c_b], c_j)
    lo = first_order_sec[c_b]
    hi = np.minimum(last_sec[c_b] + 90 * 86400, end_sec)
    c_sec = _between(c_key, "checkin_at", lo, hi)
    c_pts = _int_between(c_key, "checkin_pts", 5, 10)

    cust = np.concatenate([o_cnum[buy], o_cnum[rev], o_cnum[red], cnum[bpos[c_b]]])
    pos = np.concatenate([o_cpos[buy], o_cpos[rev], o_cpos[red], bpos[c_b]])
    sec = np.concatenate([o_sec[buy], rev_sec, o_sec[red], c_sec])
    pts = np.concatenate([earned[buy], np.full(rev.size, 20), red_pts, c_pts])
    reason = np.repeat(np.arange(4), [buy.size, rev.size, red.size, c_b.size])  # purchase, review, redeem, check_in
    onum = np.concatenate([o_num[buy], o_num[rev], o_num[red], np.zeros(c_b.size, dtype=np.int64)])
    order = np.lexsort((reason, sec, pos))
    order_ids = _null_where(_ids("O", onum[order], 10), onum[order] == 0)
    return pa.table(
        {
            "customer_id": _ids("C", cust[order], store.id_width),
            "occurred_at": _timestamps(sec[order]),
            "points": _ints(pts[order]),
            "reason": _take(pa.array(["purchase", "review", "redeem", "check_in"]), reason[order]),
            "order_id": order_ids,
        }
    )


def _opt_outs(store: _Store, cnum, ckey, phones: pa.Array, reg_sec) -> pa.Table:
    """Opt-out replies (some later undone by an opt-in) and blacklist entries, for phones on file."""
    end_sec = store.day0_seconds + store.days * 86400 - 1
    has_phone = ~np.asarray(phones.is_null().to_numpy(zero_copy_only=False))
    out = np.flatnonzero(has_phone & (_u(ckey, "opt_out") < OPT_OUT_SHARE))
    out_sec = _between(ckey[out], "opt_out_at", reg_sec[out], end_sec)
    back = out[_u(ckey[out], "opt_in") < OPT_IN_AGAIN_SHARE]
    back_from = out_sec[np.searchsorted(out, back)]
    back_sec = _between(ckey[back], "opt_in_at", back_from, end_sec)
    black = np.flatnonzero(has_phone & (_u(ckey, "blacklist") < BLACKLIST_SHARE))
    black_sec = _between(ckey[black], "blacklist_at", reg_sec[black], end_sec)

    pos = np.concatenate([out, back, black])
    sec = np.concatenate([out_sec, back_sec, black_sec])
    kind = np.concatenate([np.zeros(out.size), np.ones(back.size), np.full(black.size, 2)]).astype(np.int64)
    order = np.lexsort((kind, sec, pos))
    pos, sec, kind = pos[order], sec[order], kind[order]
    keys = ckey[pos]

    reply = _take(pa.array(list(OPT_OUT_REPLIES)), _pick(_u(keys, "reply_text"), OPT_OUT_REPLY_WEIGHTS))
    consent = (kind == 1) & (_u(keys, "opt_in_source") < 0.5)
    reply = pc.if_else(pa.array(kind == 1), pa.scalar("START"), reply)
    reply = _null_where(reply, consent | (kind == 2))
    # an opt-out reply sometimes arrives without an event: the reply text says what it is
    event = _take(pa.array(["opt_out", "opt_in", "blacklist"]), kind)
    event = _null_where(event, (kind == 0) & (_u(keys, "event_missing") < 0.1))
    source = np.where(kind == 0, 0, np.where(consent, 1, np.where(kind == 1, 0, 2 + (_u(keys, "bl_src") < 0.3))))
    customer_ids = _null_where(_ids("C", cnum[pos], store.id_width), _u(keys, "no_customer_id") < 0.25)
    return pa.table(
        {
            "phone": phones.take(pa.array(pos, pa.int64())),
            "occurred_at": _timestamps(sec),
            "event": event,
            "source": _take(pa.array(["reply", "consent", "complaint", "manual"]), source),
            "reply_text": reply,
            "customer_id": customer_ids,
        }
    )


def _fullwidth(text: str) -> str:
    return text.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})


def _shape_phone(plain: str, kind: str, x: int) -> str | None:
    if kind == "phone_plus86":
        return "+86 " + plain
    if kind == "phone_0086":
        return "0086" + plain
    if kind == "phone_86":
        return "86" + plain
    if kind == "phone_spaces":
        return f"{plain[:3]} {plain[3:7]} {plain[7:]}"
    if kind == "phone_dashes":
        return f"{plain[:3]}-{plain[3:7]}-{plain[7:]}"
    if kind == "phone_fullwidth":
        return _fullwidth(plain)
    if kind == "phone_landline":
        area = LANDLINE_AREAS[x % len(LANDLINE_AREAS)]
        return f"{area}-{(x // 10) % 7 + 2}{(x // 100) % 10_000_000:07d}"  # 8-digit local number
    if kind == "phone_too_short":
        return plain[:7]
    return None  # phone_empty


def _alt_timestamp(seconds: int, kind: str) -> str:
    from datetime import datetime, timezone

    t = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)  # naive store-local
    if kind == "ordered_at_slash":
        return t.strftime("%Y/%m/%d %H:%M")
    if kind == "ordered_at_yyyymmdd":
        return t.strftime("%Y%m%d")
    if kind == "ordered_at_chinese":
        return f"{t.year}年{t.month}月{t.day}日"
    if kind == "ordered_at_epoch":
        return str(seconds - STORE_UTC_OFFSET_SECONDS)
    return "not a date"


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


class _Sink:
    """Appends text tables to one landing file: CSV (UTF-8 or GB18030) or Parquet (a row group per write)."""

    def __init__(self, path: Path, columns: tuple[str, ...], fmt: str, codec: str) -> None:
        self.path, self.columns, self.fmt, self.codec, self.rows = path, columns, fmt, codec, 0
        self.schema = pa.schema([(c, pa.string()) for c in columns])
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self._file = open(path, "wb")
            self._file.write((",".join(columns) + "\n").encode(codec))

    def write(self, table: pa.Table) -> None:
        table = table.select(list(self.columns)).cast(self.schema)
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if self.fmt == "parquet":
            self._writer.write_table(table)
            return
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        data = buf.getvalue()
        if self.codec != "utf-8":
            data = data.decode("utf-8").encode(self.codec)
        self._file.write(data)

    def close(self) -> None:
        if self.fmt == "parquet":
            self._writer.close()
        else:
            self._file.close()


def _codec(fmt: str, encoding: str) -> str:
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8"):
        return "utf-8"
    if enc in ("gbk", "gb18030", "gb2312"):
        if fmt != "csv":
            raise LaokeError(f"encoding {encoding!r} applies to CSV only; Parquet is always UTF-8")
        return "gb18030"
    raise LaokeError(f"unknown encoding {encoding!r}: use utf-8 or gbk")


def generate_store(
    out_dir: Path,
    customers: int = 2000,
    seed: int = 7,
    fmt: str = "csv",
    encoding: str = "utf-8",
    end_date: date = date(2026, 10, 31),
    years: float = 2.5,
    dirty: bool = True,
    chunk_customers: int = 50_000,
) -> dict:
    """Writes orders, order_lines, customers, products, opt_outs, points files into out_dir.

    fmt: 'csv' or 'parquet'; encoding: 'utf-8' or 'gbk' (CSV only; written with codec gb18030).
    Returns a summary: {"files": {file name: data rows}, "dirty": {kind: count for every kind in
    DIRTY_KINDS}, plus the arguments}. Every column is text, exactly LANDING_FILES' columns in order.
    """
    if fmt not in ("csv", "parquet"):
        raise LaokeError(f"unknown format {fmt!r}: use csv or parquet")
    codec = _codec(fmt, encoding)
    if customers < 0:
        raise LaokeError(f"customers must be 0 or more, got {customers}")
    if chunk_customers < 1:
        raise LaokeError(f"chunk_customers must be 1 or more, got {chunk_customers}")
    if years <= 0:
        raise LaokeError(f"years must be positive, got {years}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    store = _Store(seed=seed, customers=customers, end_date=end_date, dirty=dirty, years=years)
    catalog = _Catalog.build()
    progress = _Progress()
    sinks = {
        name: _Sink(out_dir / f"{name}.{fmt}", spec.columns, fmt, codec) for name, spec in LANDING_FILES.items()
    }
    try:
        with np.errstate(over="ignore"):
            sinks["products"].write(catalog.table())
            for first in range(0, customers, chunk_customers):
                last = min(first + chunk_customers, customers)
                for name, table in _chunk(store, catalog, first, last, progress).items():
                    sinks[name].write(table)
    finally:
        for sink in sinks.values():
            sink.close()
    summary: dict[str, Any] = {
        "out_dir": str(out_dir),
        "format": fmt,
        "encoding": "gbk" if codec == "gb18030" else "utf-8",
        "customers": customers,
        "seed": seed,
        "start_date": store.start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "dirty_enabled": dirty,
        "files": {sink.path.name: sink.rows for sink in sinks.values()},
        "dirty": dict(progress.dirty),
    }
    return summary
