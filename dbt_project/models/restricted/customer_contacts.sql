{#- Restricted: one row per customer with the normalised number. Only send-list exports read
    this relation; analysts use main.customers (masked).

    A view: it is a filter over the profiles, read by the exports for the customers of one list,
    so a table would copy every customer's phone on every build (23 s of a 100M daily build)
    for nothing. -#}
{{ config(materialized='view') }}

select
    customer_id,
    e164,
    national_number,
    masked_phone,
    phone_class
from {{ ref('int_customer_profiles') }}
where e164 is not null
