with lines as (
    select * from {{ ref('stg_order_lines') }}
),

undecodable as (
    {{ undecodable_rows('order_lines') }}
),

orders as (
    select order_key, max(case when rejection_reason is null then 1 else 0 end) = 1 as is_accepted
    from {{ ref('int_orders_checked') }}
    group by order_key
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
        row_number() over (partition by lines.order_id, lines.line_key order by lines.source_row) as line_key_occurrence,
        orders.order_key is not null as order_exists,
        coalesce(orders.is_accepted, false) as order_accepted,
        products.product_id is not null as product_exists,
        coalesce(products.is_accepted, false) as product_accepted,
        undecodable.source_row is not null as has_undecodable_text
    from lines
    left join orders on lines.order_id = orders.order_key
    left join products on lines.product_id = products.product_id
    left join undecodable on lines.source_file = undecodable.source_file and lines.source_row = undecodable.source_row
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

select * from checked
