{#- One row per customer and consumable category whose last purchase runs out around as_of
    (seed 000): due_date = last purchase + consumption cycle x quantity bought. Listed from
    due_window_before_days before the due date until repurchase_due_max_overdue_days after it;
    the last purchase of the category is the latest by construction, so whoever already bought
    again is not listed. -#}
with lines as (
    select * from {{ ref('int_purchased_lines') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

consumables as (
    select *
    from lines
    where not is_durable and consumption_cycle_days is not null
),

category_days as (
    select
        customer_id,
        category,
        ordered_on,
        sum(quantity * consumption_cycle_days) as covered_days
    from consumables
    group by customer_id, category, ordered_on
),

day_products as (
    select
        customer_id,
        category,
        ordered_on,
        product_id,
        row_number() over (partition by customer_id, category, ordered_on order by quantity desc, product_id) as product_rank
    from consumables
),

last_purchase as (
    select
        category_days.*,
        row_number() over (partition by category_days.customer_id, category_days.category order by category_days.ordered_on desc) as purchase_rank
    from category_days
),

due as (
    select
        last_purchase.customer_id,
        last_purchase.category,
        day_products.product_id,
        last_purchase.ordered_on as last_purchase_date,
        cast(last_purchase.covered_days as integer) as cycle_days,
        cast({{ dbt.dateadd('day', 'cast(last_purchase.covered_days as integer)', 'last_purchase.ordered_on') }} as date) as due_date,
        as_of.as_of_date
    from last_purchase
    inner join day_products
        on last_purchase.customer_id = day_products.customer_id
        and last_purchase.category = day_products.category
        and last_purchase.ordered_on = day_products.ordered_on
        and day_products.product_rank = 1
    cross join as_of
    where last_purchase.purchase_rank = 1
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
