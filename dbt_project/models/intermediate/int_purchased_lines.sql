{#- Purchased order lines on or before as_of with their product: the grain of repurchase,
    cross-sell, up-sell and referral rules. Refund lines are left out.

    Incremental by order (macros/incremental_state.sql, order_scope_plan): a build recomputes
    the lines of the orders int_orders_resolved resolved since its last build, of the orders
    with a line int_order_lines_checked decided since (a new line, a line that became a
    duplicate) and of the orders that entered the as_of window. The customers whose lines a
    build takes away go to int_purchased_lines__changes, for the customer-scoped marts. The
    accepted products' category, line, price, cycle and durability are in the fingerprint (a
    change rebuilds everything). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'order_scope': {
        'lines': true,
        'products': ['category', 'product_line', 'price', 'consumption_cycle_days', 'is_durable'],
        'changes': true,
    }},
    pre_hook="{{ order_scope_plan() }}",
    post_hook="{{ order_scope_finish() }}"
) }}

with lines as (
    select * from {{ ref('int_order_lines_checked') }}
    where rejection_reason is null
        and {{ order_scope_filter('order_id') }}
),

orders as (
    select * from {{ ref('int_orders_resolved') }}
    where {{ order_scope_filter('order_key') }}
),

products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

stamp as (
    select {{ plan_stamp() }} as built
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
    lines.amount,
    stamp.built as _built
from lines
inner join orders on lines.order_id = orders.order_key
inner join products on lines.product_id = products.product_id
cross join as_of
cross join stamp
where orders.is_purchase
    and lines.amount >= 0
    and lines.quantity > 0
    and orders.ordered_on <= as_of.as_of_date
