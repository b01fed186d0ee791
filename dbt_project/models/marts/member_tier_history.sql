{#- One row per tier change: the first tier a member reaches (joined), every upgrade and
    downgrade (refunds can lower cumulative spend), and fast upgrades (a big order during a
    promotion).

    Incremental by customer (macros/customer_history_scope.sql), like the tier days it reads: a
    build recomputes the customers whose orders changed, entered the as_of window or left it; a
    new tier var or new code here or in int_member_tier_days rebuilds everything. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_history': {'date': 'changed_on', 'rules': ['tiers'], 'reads': ['int_member_tier_days']}},
    pre_hook="{{ customer_history_plan() }}",
    post_hook="{{ customer_history_finish() }}"
) }}

with tier_days as (
    select * from {{ ref('int_member_tier_days') }}
    where {{ customer_history_filter('customer_id') }}
),

tiers as (
    {{ tiers_table() }}
),

with_previous as (
    select
        tier_days.*,
        lag(tier_rank) over (partition by customer_id order by spend_date) as previous_tier_rank,
        lag(is_fast_upgraded) over (partition by customer_id order by spend_date) as was_fast_upgraded
    from tier_days
),

changes as (
    select
        customer_id,
        spend_date as changed_on,
        previous_tier_rank,
        tier_rank,
        cumulative_spend,
        case
            when previous_tier_rank is null then 'joined'
            when tier_rank > previous_tier_rank and is_fast_upgraded and not was_fast_upgraded and tier_rank > spend_tier_rank then 'fast_upgrade'
            when tier_rank > previous_tier_rank then 'upgrade'
            else 'downgrade'
        end as change_type
    from with_previous
    where previous_tier_rank is null or previous_tier_rank <> tier_rank
)

select
    changes.customer_id,
    changes.changed_on,
    previous_tiers.tier as from_tier,
    new_tiers.tier as to_tier,
    changes.change_type,
    changes.cumulative_spend,
    lead(changes.changed_on) over (partition by changes.customer_id order by changes.changed_on) as valid_until
from changes
inner join tiers as new_tiers on changes.tier_rank = new_tiers.tier_rank
left join tiers as previous_tiers on changes.previous_tier_rank = previous_tiers.tier_rank
