{#- One row per customer who bought a durable product (never comes due): referral (老带新)
    campaigns ask them to bring a friend instead of rebuying (seed 000).

    Incremental by customer (macros/incremental_state.sql, customer_scope_plan): a build
    recomputes the customers whose purchased lines changed; the products' durability is in the
    fingerprint. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_scope': {'products': ['is_durable']}},
    pre_hook="{{ customer_scope_plan() }}",
    post_hook="{{ customer_scope_finish() }}"
) }}

with lines as (
    select * from {{ ref('int_purchased_lines') }}
    where {{ customer_scope_filter('customer_id') }}
)

select
    customer_id,
    min(ordered_on) as first_durable_purchase_on,
    max(ordered_on) as last_durable_purchase_on,
    count(distinct product_id) as durable_products
from lines
where is_durable
group by customer_id
