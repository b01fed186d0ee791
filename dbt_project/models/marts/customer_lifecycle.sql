{#- One row per customer: lifecycle status as of as_of (seed 001, 002).
    prospect: never paid. new: first purchase within new_customer_days. active: 2+ purchase
    orders, last within active_days. one_time: one purchase order, 31-90 days ago. sleeping:
    last purchase active_days+1 .. sleeping_days ago. churned: longer ago. status_since is the
    day the current status began, so "who fell asleep this month" is one filter. -#}
with profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

per_customer as (
    -- first / second / last purchase and the current run, per customer (as_of-free, kept incrementally)
    select * from {{ ref('int_customer_purchase_summary') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

measured as (
    select
        profiles.customer_id,
        profiles.registered_at,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date,
        per_customer.second_purchase_date,
        per_customer.current_run_start,
        coalesce(per_customer.purchase_orders, 0) as purchase_orders,
        {{ days_between('per_customer.first_purchase_date', 'as_of.as_of_date') }} as days_since_first_purchase,
        {{ days_between('per_customer.last_purchase_date', 'as_of.as_of_date') }} as days_since_last_purchase,
        as_of.as_of_date
    from profiles
    left join per_customer on profiles.customer_id = per_customer.customer_id
    cross join as_of
),

classified as (
    select
        measured.*,
        case
            when last_purchase_date is null then 'prospect'
            when days_since_first_purchase <= {{ var('new_customer_days') }} then 'new'
            when days_since_last_purchase <= {{ var('active_days') }} and purchase_orders >= 2 then 'active'
            when days_since_last_purchase <= {{ var('active_days') }} then 'one_time'
            when days_since_last_purchase <= {{ var('sleeping_days') }} then 'sleeping'
            else 'churned'
        end as lifecycle_status,
        case
            when purchase_orders = 0 then 'none'
            when purchase_orders = 1 then 'one_time'
            else 'repeat'
        end as purchase_count_band
    from measured
)

select
    -- ids
    customer_id,

    -- dimensions
    lifecycle_status,
    purchase_count_band,
    case lifecycle_status
        when 'prospect' then cast(registered_at as date)
        when 'new' then first_purchase_date
        when 'one_time' then {{ dbt.dateadd('day', var('new_customer_days') + 1, 'first_purchase_date') }}
        when 'active' then greatest(
            second_purchase_date,
            current_run_start,
            {{ dbt.dateadd('day', var('new_customer_days') + 1, 'first_purchase_date') }}
        )
        when 'sleeping' then {{ dbt.dateadd('day', var('active_days') + 1, 'last_purchase_date') }}
        when 'churned' then {{ dbt.dateadd('day', var('sleeping_days') + 1, 'last_purchase_date') }}
    end as status_since,

    -- numerics
    purchase_orders,
    days_since_first_purchase,
    days_since_last_purchase,

    -- dates
    first_purchase_date,
    last_purchase_date,
    as_of_date
from classified
