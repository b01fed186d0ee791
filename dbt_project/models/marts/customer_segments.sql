{#- One row per customer: every segment a campaign audience filters on, in one place
    (lifecycle, RFM, tier, tags, birthday timing, last purchase). Campaign audiences are SQL
    filters over this table, optionally joined with a rule mart (repurchase_due, ...). -#}
with customers as (
    select * from {{ ref('customers') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

tiers as (
    select * from {{ ref('member_tiers') }}
),

tags as (
    select * from {{ ref('customer_tags') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    -- ids
    customers.customer_id,

    -- segments
    lifecycle.lifecycle_status,
    lifecycle.purchase_count_band,
    coalesce(rfm.rfm_segment, 'prospects') as rfm_segment,
    tiers.tier,
    tiers.tier_rank,
    tags.is_promotion_buyer,
    tags.is_loyal,
    tags.is_high_aov,
    tags.is_bargainer,
    tags.is_birthday_this_month,
    tags.region,
    tags.age_band,
    customers.gender,
    customers.phone_class,

    -- numerics
    -- to this year's birthday, or next year's when it has passed (29 Feb -> 28 Feb off leap years)
    case
        when customers.birthday is null then null
        else {{ days_between('as_of.as_of_date', next_birthday('customers.birthday', 'as_of.as_of_date')) }}
    end as days_to_birthday,
    lifecycle.purchase_orders,
    lifecycle.days_since_last_purchase,
    coalesce(rfm.total_spend, 0) as total_spend,
    tags.average_order_value,
    tiers.points_balance,

    -- dates
    lifecycle.first_purchase_date,
    lifecycle.last_purchase_date,
    as_of.as_of_date
from customers
cross join as_of
left join lifecycle on customers.customer_id = lifecycle.customer_id
left join rfm on customers.customer_id = rfm.customer_id
left join tiers on customers.customer_id = tiers.customer_id
left join tags on customers.customer_id = tags.customer_id
