with source as (
    select * from {{ source('raw', 'phone_numbers') }}
)

select
    raw_phone,
    e164,
    national_number,
    phone_class,
    phone_reason
from source
