with products as (
    select * from {{ ref('stg_products') }}
),

undecodable as (
    {{ undecodable_rows('products') }}
),

checked as (
    select
        products.*,
        undecodable.source_row is not null as has_undecodable_text,
        case
            when undecodable.source_row is not null then 'undecodable_text'
            when product_id is null then 'missing_product_id'
            when category is null then 'missing_category'
            when row_number() over (partition by products.product_id order by products.source_row) > 1 then 'duplicate_product_id'
            when price_text is not null and price is null then 'unparseable_price'
            when consumption_cycle_days_text is not null and consumption_cycle_days is null then 'unparseable_consumption_cycle_days'
            when consumption_cycle_days is not null and consumption_cycle_days <= 0 then 'non_positive_consumption_cycle'
            when is_durable_text is not null and {{ parse_boolean('is_durable_text') }} is null then 'unparseable_is_durable'
        end as rejection_reason
    from products
    left join undecodable on products.source_file = undecodable.source_file and products.source_row = undecodable.source_row
)

select * from checked
