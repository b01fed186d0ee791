{{ config(schema='main') }}
{#- One row per (list member, purchase order in the member's attribution window), treatment and
    holdout alike. The window is [send_date 00:00, send_date + attribution_window_days 00:00) for
    both groups: the holdout has no send time, and starting both groups at the same instant keeps
    the comparison fair (an order a treated customer placed before the message arrived that day
    counts, exactly as the same order counts for a held-out customer). A customer in several
    lists is attributed to each of them independently. -#}
with ledger as (
    select * from {{ source('campaigns', 'send_ledger') }}
),

runs as (
    select * from {{ source('campaigns', 'send_list_runs') }}
),

orders as (
    select * from {{ ref('orders') }}
    where is_purchase
),

windows as (
    select
        ledger.campaign_id,
        ledger.send_date,
        ledger.customer_id,
        ledger.segment,
        ledger.treatment_group,
        cast(ledger.send_date as timestamp) as window_start,
        {{ dbt.dateadd('day', 'coalesce(runs.attribution_window_days, ' ~ var('attribution_window_days') ~ ')', 'cast(ledger.send_date as timestamp)') }} as window_end
    from ledger
    left join runs
        on ledger.campaign_id = runs.campaign_id
        and ledger.send_date = runs.send_date
),

attributed as (
    select
        -- ids
        windows.campaign_id,
        windows.send_date,
        windows.customer_id,
        orders.order_key,
        orders.order_id,

        -- dimensions
        windows.segment,
        windows.treatment_group,

        -- numerics
        cast(orders.net_amount as decimal(18, 2)) as revenue,
        {{ days_between('windows.send_date', 'orders.ordered_on') }} as days_after_send,

        -- timestamps
        orders.ordered_at,
        windows.window_start,
        windows.window_end
    from windows
    inner join orders
        on orders.customer_id = windows.customer_id
        and orders.ordered_at >= windows.window_start
        and orders.ordered_at < windows.window_end
)

select * from attributed
