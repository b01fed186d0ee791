{#- Every order line with the first reason it cannot be used (null = accepted).

    Incremental (one row per raw row, keyed by source_file + source_row; bookkeeping in
    macros/incremental_state.sql): a build parses only the rows of order_lines files loaded since
    its last build and decides again, from the lines already parsed here, every line of
    - an order int_orders_checked decided since (a new order, a duplicate order id, a future
      timestamp that is one no more, ...: the line's order_rejected / unknown_order_id may change);
    - an order a new line belongs to (which line of an (order_id, line_key) is first may change:
      the first occurrence wins, in the order of source_file then source_row, as in a full build);
    - no order id, when a new line has none (the same, for the lines without an order id).
    Everything is parsed again when order_lines files were reloaded or removed, when
    int_orders_checked was rebuilt in full, when the products (which ids exist and are accepted),
    max_order_amount, store_timezone, day_first_dates or this model's code changed, without
    state, or on `--full-refresh`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_file', 'source_row'],
    on_schema_change='append_new_columns',
    meta={'incremental': {
        'source': 'order_lines',
        'upstream': 'int_orders_checked',
        'rules': ['max_order_amount', 'store_timezone', 'day_first_dates'],
        'fingerprint': ['products'],
    }},
    pre_hook="{{ incremental_clear_for_rebuild() }}",
    post_hook="{{ incremental_state_write() }}"
) }}

{%- set plan = incremental_plan() -%}
{%- set stg_columns = adapter.get_columns_in_relation(ref('stg_order_lines')) | map(attribute='name') | list if plan.incremental else [] -%}

with
{%- if plan.incremental %}

new_lines as (
    select * from {{ ref('stg_order_lines') }}
    where {{ incremental_new_rows(plan) }}
),

-- orders whose lines are decided again: decided by int_orders_checked since the last build, or
-- with a new line
touched_orders as (
    select order_key from {{ ref('int_orders_checked') }}
    where _built > {{ plan.seen_stamp }}
    union
    select order_id from new_lines where order_id is not null
),

lines as (
    select {% for c in stg_columns %}new_lines.{{ c }}, {% endfor %}false as _reprocessed
    from new_lines
    union all
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    where previous.order_id in (select order_key from touched_orders)
    union all
    -- (a separate branch: an OR here would make the engine read every stored line)
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    where previous.order_id is null
        and exists (select 1 from new_lines where new_lines.order_id is null)
),

orders as (
    select order_key, max(case when rejection_reason is null then 1 else 0 end) = 1 as is_accepted
    from {{ ref('int_orders_checked') }}
    where order_key in (select order_id from lines)
    group by order_key
),
{%- else %}

lines as (
    select *, true as _reprocessed from {{ ref('stg_order_lines') }}
),

orders as (
    select order_key, max(case when rejection_reason is null then 1 else 0 end) = 1 as is_accepted
    from {{ ref('int_orders_checked') }}
    group by order_key
),
{%- endif %}

stamp as (
    {{ incremental_stamp() }}
),

loaded_files as (
    {{ incremental_loaded_files() }}
),

undecodable as (
    {{ undecodable_rows('order_lines') }}
),

products as (
    select product_id, max(case when rejection_reason is null then 1 else 0 end) = 1 as is_accepted
    from {{ ref('int_products_checked') }}
    where product_id is not null
    group by product_id
),

has_products as (
    select count(*) > 0 as products_known from {{ ref('int_products_checked') }}
),

numbered as (
    select
        lines.*,
        row_number() over (partition by lines.order_id, lines.line_key order by lines.source_file, lines.source_row) as line_key_occurrence,
        orders.order_key is not null as order_exists,
        coalesce(orders.is_accepted, false) as order_accepted,
        products.product_id is not null as product_exists,
        coalesce(products.is_accepted, false) as product_accepted,
        undecodable.source_row is not null as has_undecodable_text,
        loaded_files.load_id as _load_id
    from lines
    left join orders on lines.order_id = orders.order_key
    left join products on lines.product_id = products.product_id
    left join undecodable on lines.source_file = undecodable.source_file and lines.source_row = undecodable.source_row
    left join loaded_files on lines.source_file = loaded_files.source_file
),

checked as (
    select
        numbered.*,
        case
            when has_undecodable_text then 'undecodable_text'
            when order_id is null then 'missing_order_id'
            when not order_exists then 'unknown_order_id'
            -- the line's order was quarantined (test order, future timestamp, ...): so is the line
            when not order_accepted then 'order_rejected'
            when product_id is null then 'missing_product_id'
            -- Without a products file every product id is accepted (nothing to check against).
            when has_products.products_known and not product_exists then 'unknown_product_id'
            -- the product's row was quarantined (duplicate, bad cycle, ...): so is the line
            when has_products.products_known and not product_accepted then 'product_rejected'
            when amount_text is null then 'missing_amount'
            when amount is null then 'unparseable_amount'
            when quantity_text is null then 'missing_quantity'
            when quantity is null then 'unparseable_quantity'
            when unit_price_text is not null and unit_price is null then 'unparseable_unit_price'
            when discount_amount_text is not null and {{ parse_number('discount_amount_text') }} is null then 'unparseable_discount_amount'
            when (amount < 0) <> (quantity < 0) and amount <> 0 and quantity <> 0 then 'refund_sign_mismatch'
            when abs(amount) > {{ var('max_order_amount') }} then 'absurd_amount'
            when line_key_occurrence > 1 then 'duplicate_line_id'
        end as rejection_reason
    from numbered
    cross join has_products
)

select checked.*, stamp.built as _built
from checked
cross join stamp
