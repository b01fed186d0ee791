{#- One row per customer after merging ids that share a mobile number. The phone is shown
    masked (138****1234): raw numbers live only in restricted.customer_contacts for exports. -#}
with profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

tiers as (
    select * from {{ ref('member_tiers') }}
)

select
    -- ids
    profiles.customer_id,
    profiles.source_customer_ids,

    -- contact (masked)
    profiles.masked_phone,
    profiles.phone_class,

    -- dimensions
    profiles.name,
    profiles.gender,
    profiles.birthday,
    profiles.province,
    profiles.city,
    lifecycle.lifecycle_status,
    coalesce(rfm.rfm_segment, 'prospects') as rfm_segment,
    tiers.tier,

    -- numerics
    lifecycle.purchase_orders,
    coalesce(rfm.total_spend, 0) as total_spend,

    -- dates
    profiles.registered_at,
    lifecycle.first_purchase_date,
    lifecycle.last_purchase_date,
    profiles.registered_at is not null
        and lifecycle.first_purchase_date is not null
        and cast(profiles.registered_at as date) > lifecycle.first_purchase_date as registered_after_first_order
from profiles
left join lifecycle on profiles.customer_id = lifecycle.customer_id
left join rfm on profiles.customer_id = rfm.customer_id
left join tiers on profiles.customer_id = tiers.customer_id
