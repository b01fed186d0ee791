{#- One row per customer and calendar day with a purchase on or before as_of: the day's net
    paid total. The BTYD summary (customer_rfm) counts these days, as lifetimes does (freq='D'). -#}
with orders as (
    select * from {{ ref('int_orders_resolved') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    orders.customer_id,
    orders.ordered_on as purchase_date,
    count(*) as purchase_orders,
    sum(orders.net_amount) as day_total
from orders
cross join as_of
where orders.is_purchase
    and orders.ordered_on <= as_of.as_of_date
group by orders.customer_id, orders.ordered_on
