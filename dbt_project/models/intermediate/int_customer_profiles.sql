{#- One row per surviving customer: the survivor's own attributes, filled from the ids merged
    into it where the survivor's row lacks them; the phone is the survivor's valid mobile.

    Incremental by survivor (macros/identity_scope.sql, survivor_scope_plan): a build recomputes
    the survivors whose identity rows or customers rows changed since its last build. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ survivor_scope_plan() }}",
    post_hook="{{ survivor_scope_finish() }}"
) }}

with identity as (
    select * from {{ ref('int_customer_identity') }}
    where {{ survivor_scope_filter('survivor_customer_id') }}
),

customers as (
    select * from {{ ref('int_customers_checked') }} where rejection_reason is null
),

phones as (
    select * from {{ source('raw', 'phone_numbers') }}
),

merged as (
    select
        identity.survivor_customer_id as customer_id,
        count(*) as source_customer_ids,
        max(case when identity.customer_id = identity.survivor_customer_id then customers.name end) as survivor_name,
        max(customers.name) as any_name,
        max(case when identity.customer_id = identity.survivor_customer_id then customers.raw_phone end) as survivor_raw_phone,
        max(customers.gender) as gender,
        min(case when customers.birthday_issue is null then customers.birthday end) as birthday,
        max(customers.province) as province,
        max(customers.city) as city,
        min(case when customers.registered_at_issue is null then customers.registered_at end) as registered_at
    from identity
    left join customers on identity.customer_id = customers.customer_id
    group by identity.survivor_customer_id
)

select
    merged.customer_id,
    merged.source_customer_ids,
    coalesce(merged.survivor_name, merged.any_name) as name,
    merged.survivor_raw_phone as raw_phone,
    phones.e164,
    phones.national_number,
    phones.masked_phone,
    coalesce(phones.phone_class, 'missing') as phone_class,
    merged.gender,
    merged.birthday,
    merged.province,
    merged.city,
    merged.registered_at
from merged
left join phones on merged.survivor_raw_phone = phones.raw_phone
