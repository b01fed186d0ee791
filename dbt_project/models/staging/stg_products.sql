with source as (
    select * from {{ source('raw', 'products') }}
),

renamed as (
    select
        -- ids
        product_id,

        -- dimensions
        name as product_name,
        lower(category) as category,
        coalesce(product_line, lower(category)) as product_line,
        lower(replace(coalesce(complementary_categories, ''), ' ', '')) as complementary_categories,
        coalesce({{ parse_boolean('is_durable') }}, false) as is_durable,
        is_durable as is_durable_text,

        -- numerics
        {{ parse_number('price') }} as price,
        price as price_text,
        cast({{ parse_number('consumption_cycle_days') }} as integer) as consumption_cycle_days,
        consumption_cycle_days as consumption_cycle_days_text,

        -- lineage
        _source_file as source_file,
        _source_row as source_row

    from source
)

select * from renamed
