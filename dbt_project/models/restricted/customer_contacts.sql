{#- Restricted: one row per customer with the normalised number. Only send-list exports read
    this table; analysts use main.customers (masked). -#}
select
    customer_id,
    e164,
    national_number,
    masked_phone,
    phone_class
from {{ ref('int_customer_profiles') }}
where e164 is not null
