with source as (
    select * from {{ source('raw', 'customers') }}
),

renamed as (
    select
        -- ids
        customer_id,

        -- dimensions
        phone as raw_phone,
        name,
        case
            when upper(gender) in ('F', 'FEMALE', '女') then 'F'
            when upper(gender) in ('M', 'MALE', '男') then 'M'
        end as gender,
        province,
        city,

        -- dates
        cast({{ parse_timestamp('birthday') }} as date) as birthday,
        birthday as birthday_text,
        {{ parse_timestamp('registered_at') }} as registered_at,
        registered_at as registered_at_text,

        -- lineage
        _source_file as source_file,
        _source_row as source_row

    from source
)

select * from renamed
