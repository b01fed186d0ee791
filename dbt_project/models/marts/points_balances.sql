{#- One row per member with points activity on or before as_of: earned, redeemed, balance and
    its cash value (points_cash_value CNY per point). -#}
with points as (
    select * from {{ ref('int_points_checked') }} where rejection_reason is null
),

identity as (
    select * from {{ ref('int_customer_identity') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    coalesce(identity.survivor_customer_id, points.customer_id) as customer_id,
    sum(case when points.points > 0 then points.points else 0 end) as points_earned,
    sum(case when points.points < 0 then -points.points else 0 end) as points_spent,
    sum(points.points) as points_balance,
    round(sum(points.points) * {{ var("points_cash_value") }}, 2) as points_cash_value,
    max(cast(points.occurred_at as date)) as last_points_activity_on
from points
cross join as_of
left join identity on points.customer_id = identity.customer_id
where cast(points.occurred_at as date) <= as_of.as_of_date
group by coalesce(identity.survivor_customer_id, points.customer_id)
