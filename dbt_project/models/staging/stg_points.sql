with source as (
    select * from {{ source('raw', 'points') }}
),

renamed as (
    select
        -- ids
        customer_id,
        order_id,

        -- dimensions
        lower(coalesce(reason, 'adjust')) as reason,

        -- numerics
        {{ parse_number('points') }} as points,
        points as points_text,

        -- timestamps
        {{ parse_timestamp('occurred_at') }} as occurred_at,
        occurred_at as occurred_at_text,

        -- lineage
        _source_file as source_file,
        _source_row as source_row

    from source
)

select * from renamed
