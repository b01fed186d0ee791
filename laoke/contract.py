"""The landing contract: which files a store drops in the landing folder and which columns each has.

One definition, read by the loader (what is required), the demo generator (what it writes) and
the README (what a store must provide). Every value lands as text; dbt staging casts it, so a bad
value becomes a quarantine row with a reason instead of a load failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LandingFile:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    docs: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


ORDERS = LandingFile(
    name="orders",
    required=("customer_id", "ordered_at", "amount"),
    optional=("order_id", "quantity", "status", "discount_amount", "promotion_id", "channel"),
    docs={
        "customer_id": "The store's customer id (text; kept as written, e.g. '00042').",
        "ordered_at": "When the order was placed: ISO date or timestamp, 'YYYY/MM/DD[ HH:MM[:SS]]', 'YYYYMMDD', "
        "'YYYY年M月D日', or epoch seconds. Local store time.",
        "amount": "Amount paid for the order in CNY after discounts (0 is a purchase: free or fully discounted). "
        "Negative only for a refund row (status refunded); any other negative amount is quarantined.",
        "order_id": "Optional. The order key: a repeated order_id is a duplicate (first row kept, the rest quarantined). "
        "Without it every row is its own order, even identical rows.",
        "quantity": "Optional. Items in the order (default 1).",
        "status": "Optional. paid (default), refunded (a refund row, or a fully refunded order), cancelled, unpaid, test. "
        "Only paid orders are purchases; test orders are quarantined.",
        "discount_amount": "Optional. Discount given on the order in CNY (for the bargainer and promotion-buyer tags).",
        "promotion_id": "Optional. The promotion the order was placed in (e.g. 2024-1111); empty when none.",
        "channel": "Optional. Sales channel (tmall, taobao, douyin, ...).",
    },
)

ORDER_LINES = LandingFile(
    name="order_lines",
    required=("order_id", "product_id", "quantity", "amount"),
    optional=("line_id", "unit_price", "discount_amount"),
    docs={
        "order_id": "The order the line belongs to (orders.order_id).",
        "product_id": "The product bought (products.product_id).",
        "quantity": "Items; negative on a refund line.",
        "amount": "Line total paid in CNY; a negative line is a refund of (part of) the order.",
        "line_id": "Optional. Line key within the order; a repeated (order_id, line_id) is a duplicate.",
        "unit_price": "Optional. List price per item in CNY.",
        "discount_amount": "Optional. Discount on the line in CNY.",
    },
)

CUSTOMERS = LandingFile(
    name="customers",
    required=("customer_id",),
    optional=("phone", "name", "gender", "birthday", "province", "city", "registered_at"),
    docs={
        "customer_id": "The store's customer/member id.",
        "phone": "Mobile number in any common shape (+86, 0086, spaces, dashes, full-width digits); normalised to E.164.",
        "name": "Display name (used in message templates).",
        "gender": "Optional. F / M / empty.",
        "birthday": "Optional. Date of birth (any accepted date format); year 1900 or earlier, or in the future, is flagged.",
        "province": "Optional. Province / region (e.g. 浙江).",
        "city": "Optional. City.",
        "registered_at": "Optional. Membership registration time.",
    },
)

PRODUCTS = LandingFile(
    name="products",
    required=("product_id", "category"),
    optional=("name", "product_line", "price", "consumption_cycle_days", "complementary_categories", "is_durable"),
    docs={
        "product_id": "The product key.",
        "category": "Category (e.g. face_mask, serum, cleanser).",
        "name": "Product name.",
        "product_line": "Optional. Product line; a higher-priced product in the same line is an up-sell.",
        "price": "Optional. List price in CNY.",
        "consumption_cycle_days": "Optional. Days one unit lasts (a 10-day mask pack: 10); empty for durable goods.",
        "complementary_categories": "Optional. Categories to cross-sell, separated by ';' (mask -> serum;cream).",
        "is_durable": "Optional. true for goods that never come due (devices): their buyers go to referral campaigns.",
    },
)

OPT_OUTS = LandingFile(
    name="opt_outs",
    required=("phone", "occurred_at"),
    optional=("event", "source", "reply_text", "customer_id"),
    docs={
        "phone": "The phone the event is about, any common shape.",
        "occurred_at": "When it happened.",
        "event": "opt_out (default), opt_in, or blacklist. The latest opt_out/opt_in event per phone wins; "
        "a blacklisted phone is never sent to.",
        "source": "Optional. reply, consent, complaint, manual, ...",
        "reply_text": "Optional. The SMS reply text (T, TD, 退订, STOP, START, ...); an opt-out reply sets event when it is empty.",
        "customer_id": "Optional. The customer, when known.",
    },
)

POINTS = LandingFile(
    name="points",
    required=("customer_id", "occurred_at", "points"),
    optional=("reason", "order_id"),
    docs={
        "customer_id": "The member.",
        "occurred_at": "When the points were earned or redeemed.",
        "points": "Signed integer: positive earned, negative redeemed or expired.",
        "reason": "Optional. purchase, check_in, review, redeem, expire, adjust.",
        "order_id": "Optional. The order that earned the points.",
    },
)

LANDING_FILES: dict[str, LandingFile] = {
    f.name: f for f in (ORDERS, ORDER_LINES, CUSTOMERS, PRODUCTS, OPT_OUTS, POINTS)
}

# Header names stores commonly export (Chinese back-office exports, other spellings) -> contract
# column. Headers are matched after trimming, lower-casing and turning spaces/dashes into "_".
COLUMN_ALIASES: dict[str, str] = {
    "客户id": "customer_id", "客户编号": "customer_id", "会员id": "customer_id", "会员编号": "customer_id",
    "买家id": "customer_id", "user_id": "customer_id", "member_id": "customer_id", "customer": "customer_id",
    "订单号": "order_id", "订单编号": "order_id", "订单id": "order_id",
    "下单时间": "ordered_at", "付款时间": "ordered_at", "order_date": "ordered_at", "date": "ordered_at",
    "order_time": "ordered_at", "created_at": "ordered_at",
    "金额": "amount", "实付金额": "amount", "支付金额": "amount", "订单金额": "amount", "total": "amount",
    "数量": "quantity", "订单状态": "status", "优惠金额": "discount_amount", "渠道": "channel",
    "手机": "phone", "手机号": "phone", "手机号码": "phone", "mobile": "phone", "电话": "phone",
    "姓名": "name", "性别": "gender", "生日": "birthday", "省份": "province", "城市": "city",
    "注册时间": "registered_at",
    "商品id": "product_id", "商品编号": "product_id", "类目": "category", "商品名称": "name",
    "积分": "points",
}
