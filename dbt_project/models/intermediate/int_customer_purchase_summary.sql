{#- One row per customer with a purchase on or before as_of: what customer_lifecycle,
    customer_rfm and customer_tags need from the purchase days and purchase orders, none of it
    relative to as_of (they add the as_of arithmetic and the store-wide ranks), so a daily build
    recomputes only the customers whose purchases changed.

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

purchase_orders as (
    select
        orders.customer_id,
        count(case when orders.is_promotion_order or orders.is_discounted then 1 end) as promotion_orders,
        sum(orders.discount_amount) as discount_total
    from {{ ref('int_orders_resolved') }} as orders
    cross join {{ ref('int_as_of') }} as as_of
    where {{ customer_history_filter('orders.customer_id') }}
        and orders.is_purchase
        and orders.ordered_on <= as_of.as_of_date
    group by orders.customer_id
),

gaps as (
    select
        customer_id,
        purchase_date,
        purchase_orders,
        day_total,
        {{ days_between('lag(purchase_date) over (partition by customer_id order by purchase_date)', 'purchase_date') }} as days_since_previous,
        sum(purchase_orders) over (partition by customer_id order by purchase_date rows between unbounded preceding and current row) as orders_so_far
    from purchase_days
),

days as (
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
        sum(day_total) - {{ arg_min('day_total', 'purchase_date') }} as repeat_spend
    from gaps
    group by customer_id
)

select
    days.customer_id,
    days.first_purchase_date,
    days.last_purchase_date,
    days.second_purchase_date,
    days.current_run_start,
    days.purchase_days,
    days.purchase_orders,
    days.total_spend,
    days.repeat_spend,
    -- purchase orders in a promotion or with a discount (customer_tags' promotion buyer)
    coalesce(purchase_orders.promotion_orders, 0) as promotion_orders,
    coalesce(purchase_orders.discount_total, 0) as discount_total
from days
left join purchase_orders on days.customer_id = purchase_orders.customer_id
