{#- One row per customer: current tier as of as_of with its benefits (discount rate, free
    shipping quota) and points balance. A customer without spend is normal. -#}
with profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

latest as (
    -- the latest tier day and tier change per customer, kept incrementally
    select * from {{ ref('int_member_tier_latest') }}
),

points as (
    select * from {{ ref('points_balances') }}
),

tiers as (
    {{ tiers_table() }}
)

select
    -- ids
    profiles.customer_id,

    -- dimensions
    tiers.tier,
    tiers.tier_display_name,
    tiers.tier_rank,
    coalesce(latest.is_fast_upgraded, false) as is_fast_upgraded,

    -- benefits
    tiers.discount_rate,
    tiers.free_shipping_count,
    tiers.free_shipping_months,

    -- numerics
    coalesce(latest.cumulative_spend, 0) as cumulative_spend,
    coalesce(points.points_balance, 0) as points_balance,
    coalesce(points.points_cash_value, 0) as points_cash_value,

    -- dates
    latest.tier_since
from profiles
left join latest on profiles.customer_id = latest.customer_id
inner join tiers on coalesce(latest.tier_rank, 1) = tiers.tier_rank
left join points on profiles.customer_id = points.customer_id
