{#- One row per customer and consumable category whose last purchase runs out around as_of
    (seed 000): due_date = last purchase + consumption cycle x quantity bought
    (int_category_last_purchases). Listed from due_window_before_days before the due date until
    repurchase_due_max_overdue_days after it; the last purchase of the category is the latest by
    construction, so whoever already bought again is not listed. A filter over one row per
    customer-category: what changes daily (as_of) is applied here, the per-customer work is
    incremental upstream. -#}
with last_purchases as (
    select * from {{ ref('int_category_last_purchases') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

due as (
    select
        last_purchases.customer_id,
        last_purchases.category,
        last_purchases.product_id,
        last_purchases.last_purchase_date,
        last_purchases.cycle_days,
        cast({{ dbt.dateadd('day', 'last_purchases.cycle_days', 'last_purchases.last_purchase_date') }} as date) as due_date,
        as_of.as_of_date
    from last_purchases
    cross join as_of
),

windowed as (
    select
        due.*,
        cast({{ dbt.dateadd('day', -var('due_window_before_days'), 'due_date') }} as date) as window_start,
        cast({{ dbt.dateadd('day', var('due_window_after_days'), 'due_date') }} as date) as window_end,
        {{ days_between('due_date', 'as_of_date') }} as days_overdue
    from due
)

select
    customer_id,
    category,
    product_id,
    last_purchase_date,
    cycle_days,
    due_date,
    window_start,
    window_end,
    days_overdue,
    case
        when as_of_date < due_date then 'upcoming'
        when as_of_date <= window_end then 'due'
        else 'overdue'
    end as due_status,
    as_of_date
from windowed
where as_of_date >= window_start
    and days_overdue <= {{ var('repurchase_due_max_overdue_days') }}
