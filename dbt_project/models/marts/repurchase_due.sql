{#- One row per customer and consumable category whose last purchase runs out around as_of
    (seed 000): due_date = last purchase + consumption cycle x quantity bought. Listed from
    due_window_before_days before the due date until repurchase_due_max_overdue_days after it;
    the last purchase of the category is the latest by construction, so whoever already bought
    again is not listed.

    The product named is the one bought in the largest quantity on that last day; it is looked up
    only for the listed rows (a small share of all customer-categories). The purchased lines are
    read twice rather than shared through one CTE: DuckDB would copy a CTE used twice. -#}
with consumable_lines as (
    select * from {{ ref('int_purchased_lines') }}
    where not is_durable and consumption_cycle_days is not null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

category_days as (
    select
        customer_id,
        category,
        ordered_on,
        sum(quantity * consumption_cycle_days) as covered_days
    from consumable_lines
    group by customer_id, category, ordered_on
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
        last_purchase.ordered_on as last_purchase_date,
        cast(last_purchase.covered_days as integer) as cycle_days,
        cast({{ dbt.dateadd('day', 'cast(last_purchase.covered_days as integer)', 'last_purchase.ordered_on') }} as date) as due_date,
        as_of.as_of_date
    from last_purchase
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
),

listed as (
    select *
    from windowed
    where as_of_date >= window_start
        and days_overdue <= {{ var('repurchase_due_max_overdue_days') }}
),

last_day_products as (
    select
        lines.customer_id,
        lines.category,
        lines.product_id,
        row_number() over (partition by lines.customer_id, lines.category order by lines.quantity desc, lines.product_id) as product_rank
    from {{ ref('int_purchased_lines') }} as lines
    inner join listed
        on lines.customer_id = listed.customer_id
        and lines.category = listed.category
        and lines.ordered_on = listed.last_purchase_date
    where not lines.is_durable and lines.consumption_cycle_days is not null
)

select
    listed.customer_id,
    listed.category,
    last_day_products.product_id,
    listed.last_purchase_date,
    listed.cycle_days,
    listed.due_date,
    listed.window_start,
    listed.window_end,
    listed.days_overdue,
    case
        when listed.as_of_date < listed.due_date then 'upcoming'
        when listed.as_of_date <= listed.window_end then 'due'
        else 'overdue'
    end as due_status,
    listed.as_of_date
from listed
inner join last_day_products
    on listed.customer_id = last_day_products.customer_id
    and listed.category = last_day_products.category
    and last_day_products.product_rank = 1
