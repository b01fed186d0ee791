{#- One row per accepted order placed on or before as_of (rejected rows are in quarantine). -#}
with orders as (
    select * from {{ ref('int_orders_resolved') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select orders.*
from orders
cross join as_of
where orders.ordered_on <= as_of.as_of_date
