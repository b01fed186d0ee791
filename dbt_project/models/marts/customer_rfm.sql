{#- One row per customer with a purchase on or before as_of. frequency / recency / t /
    monetary_value follow the BTYD convention (lifetimes' summary_data_from_transaction_data,
    freq='D'), from the per-customer summary of the purchase days (int_customer_purchase_summary,
    kept incrementally); the R/F/M scores and segment use days since last purchase, purchase
    orders and net spend. -#}
with summary as (
    select * from {{ ref('int_customer_purchase_summary') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

btyd as (
    select
        summary.customer_id,
        summary.purchase_days - 1 as frequency,
        {{ days_between('summary.first_purchase_date', 'summary.last_purchase_date') }} as recency,
        {{ days_between('summary.first_purchase_date', 'as_of.as_of_date') }} as t,
        -- mean daily total over the repeat days, 0 when there are none
        coalesce({{ mean_of_total('summary.repeat_spend', 'summary.purchase_days - 1') }}, 0) as monetary_value,
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
        recency_scores.score as r_score,
        frequency_scores.score as f_score,
        monetary_scores.score as m_score
    from btyd
    left join {{ quintile_scores('btyd', 'days_since_last_purchase', descending=true) }} as recency_scores
        on recency_scores.scored_value = btyd.days_since_last_purchase
    left join {{ quintile_scores('btyd', 'purchase_orders') }} as frequency_scores
        on frequency_scores.scored_value = btyd.purchase_orders
    left join {{ quintile_scores('btyd', 'total_spend') }} as monetary_scores
        on monetary_scores.scored_value = btyd.total_spend
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
