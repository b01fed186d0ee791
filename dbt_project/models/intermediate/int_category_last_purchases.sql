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
    pre_hook=["{{ incremental_state_ddl() }}", "{{ customer_scope_plan() }}"],
    post_hook="{{ customer_scope_finish() }}"
) }}

with consumable_lines as (
    select customer_id, category, ordered_on, product_id, quantity, consumption_cycle_days
    from {{ ref('int_purchased_lines') }}
    where not is_durable
        and consumption_cycle_days is not null
        and {{ customer_scope_filter('customer_id') }}
),

category_days as (
    select
        customer_id,
        category,
        ordered_on,
        sum(quantity * consumption_cycle_days) as covered_days
    from consumable_lines
    group by customer_id, category, ordered_on
),

last_purchase as (
    select
        category_days.*,
        row_number() over (partition by category_days.customer_id, category_days.category order by category_days.ordered_on desc) as purchase_rank
    from category_days
),

last_day_products as (
    select
        lines.customer_id,
        lines.category,
        lines.product_id,
        row_number() over (partition by lines.customer_id, lines.category order by lines.quantity desc, lines.product_id) as product_rank
    from consumable_lines as lines
    inner join last_purchase
        on lines.customer_id = last_purchase.customer_id
        and lines.category = last_purchase.category
        and lines.ordered_on = last_purchase.ordered_on
        and last_purchase.purchase_rank = 1
)

select
    last_purchase.customer_id,
    last_purchase.category,
    last_day_products.product_id,
    last_purchase.ordered_on as last_purchase_date,
    cast(last_purchase.covered_days as integer) as cycle_days
from last_purchase
inner join last_day_products
    on last_purchase.customer_id = last_day_products.customer_id
    and last_purchase.category = last_day_products.category
    and last_day_products.product_rank = 1
where last_purchase.purchase_rank = 1
