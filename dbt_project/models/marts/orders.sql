{#- One row per accepted order placed on or before as_of (rejected rows are in quarantine).

    Incremental by order (macros/incremental_state.sql, order_scope_plan): a build copies only
    the orders int_orders_resolved resolved since its last build and those that entered the
    as_of window; orders after as_of are removed. It rebuilds everything when
    int_orders_resolved was rebuilt in full since, when this model's code changed, without
    state, or on `--full-refresh`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ order_scope_plan() }}",
    post_hook="{{ order_scope_finish() }}"
) }}

with orders as (
    select * from {{ ref('int_orders_resolved') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    orders.order_key,
    orders.order_id,
    orders.customer_id,
    orders.source_customer_id,
    orders.status,
    orders.channel,
    orders.promotion_id,
    orders.is_promotion_order,
    orders.is_discounted,
    orders.is_refund,
    orders.is_purchase,
    orders.gross_amount,
    orders.refunded_amount,
    orders.net_amount,
    orders.discount_amount,
    orders.quantity,
    orders.ordered_at,
    orders.ordered_on,
    orders.source_file,
    orders.source_row
from orders
cross join as_of
where orders.ordered_on <= as_of.as_of_date
    and {{ order_scope_filter('orders.order_key') }}
