{#- One row: the reference date of this build and the load date. as_of defaults to the latest
    order date that is not after the load date (so a future-dated row cannot move it). -#}
with orders as (
    -- every order row, accepted or not, with its timestamp parsed once (incrementally) there
    select ordered_at from {{ ref('int_orders_checked') }}
),

dates as (
    select
        {{ load_date_literal() }} as load_date
),

latest_order as (
    select max(cast(orders.ordered_at as date)) as latest_order_date
    from orders
    cross join dates
    where cast(orders.ordered_at as date) <= dates.load_date
)

select
    coalesce({{ as_of_literal() }}, latest_order.latest_order_date, dates.load_date) as as_of_date,
    dates.load_date
from dates
cross join latest_order
