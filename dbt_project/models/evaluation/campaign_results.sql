{{ config(schema='main') }}
{#- One row per exported list (campaign, send date) x segment x group (treatment / holdout), plus
    segment 'all' for the whole list. Rates are intention-to-treat: over everyone targeted in the
    group, delivered or not, so treatment and holdout compare like with like. ROI and the
    incremental figures are on the treatment row only; the incremental ones use the holdout of the
    same segment as the counterfactual: (treatment rate - holdout rate) x treated. Lift with
    confidence intervals and p-values is main.campaign_lift (laoke/evaluation.py). -#}
with outcomes as (
    select * from {{ ref('campaign_customer_outcomes') }}
),

members as (
    select campaign_id, send_date, segment, treatment_group, delivery_status, opted_out, converted,
           attributed_orders, attributed_revenue, message_cost, window_start, window_end, window_complete, as_of_date
    from outcomes
    union all
    select campaign_id, send_date, 'all' as segment, treatment_group, delivery_status, opted_out, converted,
           attributed_orders, attributed_revenue, message_cost, window_start, window_end, window_complete, as_of_date
    from outcomes
),

groups as (
    select
        campaign_id,
        send_date,
        segment,
        treatment_group,
        count(*) as targeted,
        cast(sum(case when treatment_group = 'treatment' then 1 else 0 end) as bigint) as sent,
        cast(sum(case when delivery_status = 'delivered' then 1 else 0 end) as bigint) as delivered,
        cast(sum(case when delivery_status = 'failed' then 1 else 0 end) as bigint) as failed,
        cast(sum(case when delivery_status in ('unknown', 'no_receipt') then 1 else 0 end) as bigint) as delivery_unknown,
        cast(sum(case when opted_out then 1 else 0 end) as bigint) as opt_outs,
        cast(sum(case when converted then 1 else 0 end) as bigint) as converted,
        cast(sum(attributed_orders) as bigint) as orders,
        cast(sum(attributed_revenue) as decimal(18, 2)) as revenue,
        cast(sum(message_cost) as decimal(18, 4)) as cost,
        min(window_start) as window_start,
        max(window_end) as window_end,
        min(case when window_complete then 1 else 0 end) = 1 as window_complete,
        max(as_of_date) as as_of_date
    from members
    group by campaign_id, send_date, segment, treatment_group
),

rates as (
    select
        groups.*,
        cast(delivered as double) / nullif(sent, 0) as delivery_rate,
        cast(converted as double) / targeted as conversion_rate,
        cast(revenue as double) / nullif(orders, 0) as average_order_value,
        cast(revenue as double) / targeted as revenue_per_customer
    from groups
),

control as (
    select
        campaign_id,
        send_date,
        segment,
        targeted as control_targeted,
        conversion_rate as control_conversion_rate,
        revenue_per_customer as control_revenue_per_customer
    from rates
    where treatment_group = 'holdout'
),

results as (
    select
        -- ids
        rates.campaign_id,
        rates.send_date,

        -- dimensions
        rates.segment,
        rates.treatment_group,
        rates.window_complete,

        -- numerics
        rates.targeted,
        rates.sent,
        rates.delivered,
        rates.failed,
        rates.delivery_unknown,
        rates.delivery_rate,
        rates.opt_outs,
        rates.converted,
        rates.conversion_rate,
        rates.orders,
        rates.revenue,
        rates.average_order_value,
        rates.revenue_per_customer,
        rates.cost,
        case
            when rates.treatment_group = 'treatment' and rates.cost > 0
                then (cast(rates.revenue as double) - cast(rates.cost as double)) / cast(rates.cost as double)
        end as roi,
        case when rates.treatment_group = 'treatment' then control.control_targeted end as control_targeted,
        case when rates.treatment_group = 'treatment' then control.control_conversion_rate end as control_conversion_rate,
        case when rates.treatment_group = 'treatment' then control.control_revenue_per_customer end as control_revenue_per_customer,
        case
            when rates.treatment_group = 'treatment'
                then (rates.conversion_rate - control.control_conversion_rate) * rates.targeted
        end as incremental_conversions,
        case
            when rates.treatment_group = 'treatment'
                then (rates.revenue_per_customer - control.control_revenue_per_customer) * rates.targeted
        end as incremental_revenue,
        case
            when rates.treatment_group = 'treatment' and rates.cost > 0
                then ((rates.revenue_per_customer - control.control_revenue_per_customer) * rates.targeted
                      - cast(rates.cost as double)) / cast(rates.cost as double)
        end as incremental_roi,

        -- timestamps
        rates.window_start,
        rates.window_end,
        rates.as_of_date
    from rates
    left join control
        on rates.campaign_id = control.campaign_id
        and rates.send_date = control.send_date
        and rates.segment = control.segment
)

select * from results
