{#- One row per customer and product line: the cheapest product of the same line priced at least
    upsell_min_price_ratio times the one they last bought, which they have not bought (seed 004).

    Both choices are a first row per group ordered by one integer key (latest_day_then, and the
    products' offer order), which DuckDB computes as an aggregate instead of a sort.

    Incremental by customer (macros/incremental_state.sql, customer_scope_plan): a build
    recomputes the customers whose purchased lines changed; the products' lines and prices are
    in the fingerprint (a change rebuilds everything). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_scope': {'products': ['product_line', 'price'], 'rules': ['upsell_min_price_ratio']}},
    pre_hook="{{ customer_scope_plan() }}",
    post_hook="{{ customer_scope_finish() }}"
) }}

with products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null and price is not null
),

-- on the last day, the dearest product first, then the smallest id (a line's price is its
-- product's: int_purchased_lines takes it from the same products)
tie_order as (
    select product_id, row_number() over (order by price desc, product_id) as tie_rank
    from products
),

-- the cheapest candidate first, then the smallest id
offer_order as (
    select product_id, row_number() over (order by price, product_id) as offer_rank
    from products
),

last_in_line as (
    select
        lines.customer_id,
        lines.product_line,
        lines.product_id,
        lines.price,
        lines.ordered_on,
        row_number() over (
            partition by lines.customer_id, lines.product_line
            order by {{ latest_day_then('lines.ordered_on', 'tie_order.tie_rank') }}
        ) as purchase_rank
    from {{ ref('int_purchased_lines') }} as lines
    inner join tie_order on lines.product_id = tie_order.product_id
    where lines.price is not null
        and {{ customer_scope_filter('lines.customer_id') }}
),

options as (
    select
        last_in_line.customer_id,
        last_in_line.product_line,
        last_in_line.product_id as bought_product_id,
        last_in_line.price as bought_price,
        last_in_line.ordered_on as last_bought_on,
        products.product_id as candidate_product_id,
        products.price as candidate_price,
        row_number() over (partition by last_in_line.customer_id, last_in_line.product_line order by offer_order.offer_rank) as option_rank
    from last_in_line
    inner join products
        on last_in_line.product_line = products.product_line
        and products.price >= last_in_line.price * {{ var('upsell_min_price_ratio') }}
    inner join offer_order on products.product_id = offer_order.product_id
    where last_in_line.purchase_rank = 1
        and not exists (
            select 1
            from {{ ref('int_purchased_lines') }} as already
            where already.customer_id = last_in_line.customer_id and already.product_id = products.product_id
        )
)

select
    customer_id,
    product_line,
    bought_product_id,
    bought_price,
    candidate_product_id,
    candidate_price,
    last_bought_on
from options
where option_rank = 1
