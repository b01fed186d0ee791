{#- Purchased order lines on or before as_of with their product: the grain of repurchase,
    cross-sell, up-sell and referral rules. Refund lines are left out. -#}
with lines as (
    select * from {{ ref('int_order_lines_checked') }} where rejection_reason is null
),

orders as (
    select * from {{ ref('int_orders_resolved') }}
),

products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    orders.customer_id,
    orders.order_key,
    orders.ordered_on,
    lines.product_id,
    products.category,
    products.product_line,
    products.price,
    products.consumption_cycle_days,
    products.is_durable,
    lines.quantity,
    lines.amount
from lines
inner join orders on lines.order_id = orders.order_key
inner join products on lines.product_id = products.product_id
cross join as_of
where orders.is_purchase
    and lines.amount >= 0
    and lines.quantity > 0
    and orders.ordered_on <= as_of.as_of_date
