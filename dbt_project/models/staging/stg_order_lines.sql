with source as (
    select * from {{ source('raw', 'order_lines') }}
),

renamed as (
    select
        -- ids
        order_id,
        coalesce(line_id, {{ dbt.concat(["_source_file", "':'", dbt.safe_cast("_source_row", api.Column.translate_type("string"))]) }}) as line_key,
        line_id,
        product_id,

        -- numerics
        {{ parse_number('quantity') }} as quantity,
        quantity as quantity_text,
        {{ parse_number('amount') }} as amount,
        amount as amount_text,
        {{ parse_number('unit_price') }} as unit_price,
        unit_price as unit_price_text,
        coalesce({{ parse_number('discount_amount') }}, 0) as discount_amount,
        discount_amount as discount_amount_text,

        -- lineage
        _source_file as source_file,
        _source_row as source_row

    from source
)

select * from renamed
