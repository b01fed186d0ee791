{#- One row per customer per day with spend (purchases, refunds): cumulative net spend, the tier
    it reaches, whether a fast upgrade has happened, and the resulting tier.

    Incremental by customer (macros/customer_history_scope.sql): a build recomputes the days of
    the customers whose orders changed or entered the as_of window; a changed tier var rebuilds
    everything. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_history': {'date': 'spend_date', 'rules': ['tiers', 'fast_upgrade_tier', 'fast_upgrade_min_order']}},
    pre_hook="{{ customer_history_plan() }}",
    post_hook="{{ customer_history_finish() }}"
) }}

with orders as (
    select * from {{ ref('int_orders_resolved') }}
    where {{ customer_history_filter('customer_id') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

tiers as (
    {{ tiers_table() }}
),

fast_tier as (
    select tier_rank from tiers where tier = '{{ var("fast_upgrade_tier") }}'
),

spend_days as (
    select
        orders.customer_id,
        orders.ordered_on as spend_date,
        sum(case when orders.is_purchase or orders.is_refund then orders.net_amount else 0 end) as day_net_spend,
        max(case when orders.is_purchase and orders.is_promotion_order and orders.gross_amount >= {{ var('fast_upgrade_min_order') }} then 1 else 0 end) as has_fast_upgrade_order
    from orders
    cross join as_of
    where (orders.is_purchase or orders.is_refund) and orders.ordered_on <= as_of.as_of_date
    group by orders.customer_id, orders.ordered_on
),

running as (
    select
        customer_id,
        spend_date,
        day_net_spend,
        sum(day_net_spend) over (partition by customer_id order by spend_date rows between unbounded preceding and current row) as cumulative_spend,
        max(has_fast_upgrade_order) over (partition by customer_id order by spend_date rows between unbounded preceding and current row) as fast_upgraded
    from spend_days
),

spend_tiers as (
    select
        running.customer_id,
        running.spend_date,
        running.cumulative_spend,
        running.fast_upgraded,
        {{ spend_tier_rank('running.cumulative_spend') }} as spend_tier_rank
    from running
)

select
    spend_tiers.customer_id,
    spend_tiers.spend_date,
    spend_tiers.cumulative_spend,
    spend_tiers.fast_upgraded = 1 as is_fast_upgraded,
    spend_tiers.spend_tier_rank,
    case
        when spend_tiers.fast_upgraded = 1 and fast_tier.tier_rank > spend_tiers.spend_tier_rank then fast_tier.tier_rank
        else spend_tiers.spend_tier_rank
    end as tier_rank
from spend_tiers
cross join fast_tier
