{#- One row per customer and consumable category they bought (seed 000): the last purchase day
    on or before as_of, the days it covers (consumption cycle x quantity bought that day) and the
    product bought in the largest quantity that day (ties: the smaller product id). repurchase_due
    lists the rows whose due date is near as_of.

    Incremental by customer (macros/incremental_state.sql, customer_scope_plan): a build
    recomputes the customers whose purchased lines changed; the products' categories, cycles and
    durability are in the fingerprint (a change rebuilds everything). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_scope': {'products': ['category', 'consumption_cycle_days', 'is_durable']}},
    pre_hook="{{ customer_scope_plan() }}",
    post_hook="{{ customer_scope_finish() }}"
) }}

with consumable_lines as (
    select customer_id, category, ordered_on, product_id, quantity, consumption_cycle_days
    from {{ ref('int_purchased_lines') }}
    where not is_durable
        and consumption_cycle_days is not null
        and {{ customer_scope_filter('customer_id') }}
),

-- per day: the days the day's lines cover and the product bought in the largest quantity
category_days as (
    select
        customer_id,
        category,
        ordered_on,
        sum(quantity * consumption_cycle_days) as covered_days,
        {{ arg_min('product_id', tuple_key(['-quantity', 'product_id'])) }} as product_id
    from consumable_lines
    group by customer_id, category, ordered_on
)

-- the last day of each category (one row per day, so the latest is unique)
select
    customer_id,
    category,
    {{ arg_max('product_id', 'ordered_on') }} as product_id,
    max(ordered_on) as last_purchase_date,
    cast({{ arg_max('covered_days', 'ordered_on') }} as integer) as cycle_days
from category_days
group by customer_id, category
