{#- One row per customer with a purchase on or before as_of: what customer_lifecycle and
    customer_rfm need from the purchase days, none of it relative to as_of (they add the as_of
    arithmetic), so a daily build recomputes only the customers whose purchase days changed.
    customer_tags reads its promotion orders and discount.

    Incremental by customer (macros/customer_history_scope.sql): a build recomputes the
    customers whose orders changed, entered the as_of window or (as_of moved back) left it;
    a new active_days or new code here or in int_customer_purchase_days rebuilds everything. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_history': {'date': 'last_purchase_date', 'rules': ['active_days'], 'reads': ['int_customer_purchase_days']}},
    pre_hook="{{ customer_history_plan() }}",
    post_hook="{{ customer_history_finish() }}"
) }}

with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
    where {{ customer_history_filter('customer_id') }}
),

gaps as (
    select
        customer_id,
        purchase_date,
        purchase_orders,
        day_total,
        promotion_orders,
        day_discount,
        {{ days_between('lag(purchase_date) over (partition by customer_id order by purchase_date)', 'purchase_date') }} as days_since_previous,
        sum(purchase_orders) over (partition by customer_id order by purchase_date rows between unbounded preceding and current row) as orders_so_far
    from purchase_days
)

select
    customer_id,
    min(purchase_date) as first_purchase_date,
    max(purchase_date) as last_purchase_date,
    -- the day the purchase count reached 2 (two orders on one day count)
    min(case when orders_so_far >= 2 then purchase_date end) as second_purchase_date,
    -- start of the current run of purchases with no gap longer than active_days
    max(case when days_since_previous is null or days_since_previous > {{ var('active_days') }} then purchase_date end) as current_run_start,
    count(*) as purchase_days,
    cast(sum(purchase_orders) as integer) as purchase_orders,
    sum(day_total) as total_spend,
    -- spend on the repeat days: the first purchase day's total is left out (BTYD monetary value)
    sum(day_total) - {{ arg_min('day_total', 'purchase_date') }} as repeat_spend,
    cast(sum(promotion_orders) as integer) as promotion_orders,
    sum(day_discount) as total_discount
from gaps
group by customer_id
