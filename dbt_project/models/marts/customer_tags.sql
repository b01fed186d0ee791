{#- One row per customer: the tags of seed 002, each a boolean with the number behind it.
    promotion buyer: more than promotion_buyer_share_over of purchase orders in a promotion or
    discounted; loyal: loyal_min_orders+ purchase orders and still active; high AOV: average order
    value in the store's top (1 - high_aov_percentile); bargainer: average discount rate at least
    bargainer_min_discount_rate; birthday this month; region; age band. -#}
with profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

purchase_summary as (
    select * from {{ ref('int_customer_purchase_summary') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

-- the purchase orders on or before as_of, summed per customer (incrementally) upstream
purchases as (
    select
        customer_id,
        purchase_orders,
        cast(promotion_orders as {{ type_double() }}) / purchase_orders as promotion_order_share,
        total_spend / purchase_orders as average_order_value,
        total_discount / nullif(total_spend + total_discount, 0) as average_discount_rate
    from purchase_summary
),

ranked as (
    select
        purchases.*,
        percent_rank() over (order by average_order_value) as aov_percent_rank
    from purchases
),

tagged as (
    select
        profiles.customer_id,
        coalesce(ranked.promotion_order_share > {{ var('promotion_buyer_share_over') }}, false) as is_promotion_buyer,
        coalesce(ranked.purchase_orders >= {{ var('loyal_min_orders') }} and lifecycle.lifecycle_status in ('active', 'new'), false) as is_loyal,
        coalesce(ranked.aov_percent_rank >= {{ var('high_aov_percentile') }} and ranked.purchase_orders > 0, false) as is_high_aov,
        coalesce(ranked.average_discount_rate >= {{ var('bargainer_min_discount_rate') }}, false) as is_bargainer,
        coalesce(extract(month from profiles.birthday) = extract(month from as_of.as_of_date), false) as is_birthday_this_month,
        profiles.province as region,
        profiles.city,
        {{ age_band('floor(' ~ days_between('profiles.birthday', 'as_of.as_of_date') ~ ' / 365.25)') }} as age_band,
        ranked.promotion_order_share,
        ranked.average_order_value,
        ranked.average_discount_rate,
        ranked.aov_percent_rank
    from profiles
    cross join as_of
    left join ranked on profiles.customer_id = ranked.customer_id
    left join lifecycle on profiles.customer_id = lifecycle.customer_id
)

select * from tagged
