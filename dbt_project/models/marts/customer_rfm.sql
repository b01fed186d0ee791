{#- One row per customer with a purchase on or before as_of. frequency / recency / t /
    monetary_value follow the BTYD convention (lifetimes' summary_data_from_transaction_data,
    freq='D'); the R/F/M scores and segment use days since last purchase, purchase orders and
    net spend. -#}
with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

first_days as (
    select customer_id, min(purchase_date) as first_purchase_date
    from purchase_days
    group by customer_id
),

summary as (
    select
        purchase_days.customer_id,
        first_days.first_purchase_date,
        max(purchase_days.purchase_date) as last_purchase_date,
        count(*) as purchase_days,
        cast(sum(purchase_days.purchase_orders) as integer) as purchase_orders,
        sum(purchase_days.day_total) as total_spend,
        -- mean daily total over the repeat days: the first purchase day is excluded
        avg(case when purchase_days.purchase_date > first_days.first_purchase_date then purchase_days.day_total end) as repeat_day_mean
    from purchase_days
    inner join first_days on purchase_days.customer_id = first_days.customer_id
    group by purchase_days.customer_id, first_days.first_purchase_date
),

btyd as (
    select
        summary.customer_id,
        summary.purchase_days - 1 as frequency,
        {{ days_between('summary.first_purchase_date', 'summary.last_purchase_date') }} as recency,
        {{ days_between('summary.first_purchase_date', 'as_of.as_of_date') }} as t,
        coalesce(summary.repeat_day_mean, 0) as monetary_value,
        {{ days_between('summary.last_purchase_date', 'as_of.as_of_date') }} as days_since_last_purchase,
        summary.purchase_orders,
        summary.total_spend,
        summary.first_purchase_date,
        summary.last_purchase_date,
        as_of.as_of_date
    from summary
    cross join as_of
),

scored as (
    select
        btyd.*,
        {{ quintile_score('days_since_last_purchase desc') }} as r_score,
        {{ quintile_score('purchase_orders') }} as f_score,
        {{ quintile_score('total_spend') }} as m_score
    from btyd
),

segmented as (
    select
        scored.*,
        cast(floor((f_score + m_score) / 2.0) as integer) as fm_score
    from scored
)

select
    -- ids
    customer_id,

    -- BTYD summary (days)
    cast(frequency as integer) as frequency,
    cast(recency as integer) as recency,
    cast(t as integer) as t,
    cast(monetary_value as {{ type_double() }}) as monetary_value,

    -- RFM scores
    cast(days_since_last_purchase as integer) as days_since_last_purchase,
    purchase_orders,
    total_spend,
    r_score,
    f_score,
    m_score,
    fm_score,
    {{ rfm_segment('r_score', 'fm_score') }} as rfm_segment,

    -- dates
    first_purchase_date,
    last_purchase_date,
    as_of_date
from segmented
