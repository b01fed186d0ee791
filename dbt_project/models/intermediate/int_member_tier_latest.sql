{#- One row per customer with a spend day on or before as_of: the latest day's cumulative spend,
    fast-upgrade flag and tier, and the day of the latest tier change (member_tiers adds the
    profiles, the tier's benefits and the points), so a daily build does not rank every tier day.

    Incremental by customer (macros/customer_history_scope.sql), like the tier days and the tier
    history it reads. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_history': {'date': 'latest_spend_date', 'reads': ['int_member_tier_days', 'member_tier_history']}},
    pre_hook="{{ customer_history_plan() }}",
    post_hook="{{ customer_history_finish() }}"
) }}

with tier_days as (
    select * from {{ ref('int_member_tier_days') }}
    where {{ customer_history_filter('customer_id') }}
),

history as (
    select * from {{ ref('member_tier_history') }}
    where {{ customer_history_filter('customer_id') }}
),

latest_day as (
    select
        customer_id,
        spend_date,
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
    latest_day.customer_id,
    latest_day.spend_date as latest_spend_date,
    latest_day.cumulative_spend,
    latest_day.is_fast_upgraded,
    latest_day.tier_rank,
    latest_change.tier_since
from latest_day
left join latest_change on latest_day.customer_id = latest_change.customer_id
where latest_day.recency_rank = 1
