{#- One row per customer: current tier as of as_of with its benefits (discount rate, free
    shipping quota) and points balance. A customer without spend is normal. -#}
with profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

tier_days as (
    select * from {{ ref('int_member_tier_days') }}
),

history as (
    select * from {{ ref('member_tier_history') }}
),

points as (
    select * from {{ ref('points_balances') }}
),

tiers as (
    {{ tiers_table() }}
),

latest_day as (
    select
        customer_id,
        cumulative_spend,
        is_fast_upgraded,
        tier_rank,
        row_number() over (partition by customer_id order by spend_date desc) as recency_rank
    from tier_days
),

latest_change as (
    select customer_id, max(changed_on) as tier_since
    from history
    group by customer_id
)

select
    -- ids
    profiles.customer_id,

    -- dimensions
    tiers.tier,
    tiers.tier_display_name,
    tiers.tier_rank,
    coalesce(latest_day.is_fast_upgraded, false) as is_fast_upgraded,

    -- benefits
    tiers.discount_rate,
    tiers.free_shipping_count,
    tiers.free_shipping_months,

    -- numerics
    coalesce(latest_day.cumulative_spend, 0) as cumulative_spend,
    coalesce(points.points_balance, 0) as points_balance,
    coalesce(points.points_cash_value, 0) as points_cash_value,

    -- dates
    latest_change.tier_since
from profiles
left join latest_day on profiles.customer_id = latest_day.customer_id and latest_day.recency_rank = 1
inner join tiers on coalesce(latest_day.tier_rank, 1) = tiers.tier_rank
left join latest_change on profiles.customer_id = latest_change.customer_id
left join points on profiles.customer_id = points.customer_id
