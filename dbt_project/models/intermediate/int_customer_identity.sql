{#- Maps every customer id the store used to one surviving id. Two ids with the same valid
    mobile (E.164) are one person; the survivor is the id registered first, then the one that
    ordered first, then the smallest id — so a rerun always picks the same survivor. -#}
with customers as (
    select * from {{ ref('int_customers_checked') }} where rejection_reason is null
),

orders as (
    select * from {{ ref('int_orders_checked') }} where rejection_reason is null
),

first_orders as (
    select customer_id, min(ordered_at) as first_ordered_at
    from orders
    group by customer_id
),

all_ids as (
    select customer_id from customers
    union
    select customer_id from first_orders
),

ranked as (
    select
        all_ids.customer_id,
        customers.e164,
        row_number() over (
            partition by coalesce(case when customers.phone_class in ('valid_mobile', 'virtual_operator') then customers.e164 end, all_ids.customer_id)
            order by customers.registered_at nulls last, first_orders.first_ordered_at nulls last, all_ids.customer_id
        ) as rank_in_person,
        coalesce(case when customers.phone_class in ('valid_mobile', 'virtual_operator') then customers.e164 end, all_ids.customer_id) as person_key
    from all_ids
    left join customers on all_ids.customer_id = customers.customer_id
    left join first_orders on all_ids.customer_id = first_orders.customer_id
),

survivors as (
    select person_key, customer_id as survivor_customer_id
    from ranked
    where rank_in_person = 1
)

select
    ranked.customer_id,
    survivors.survivor_customer_id,
    ranked.customer_id <> survivors.survivor_customer_id as is_merged
from ranked
inner join survivors on ranked.person_key = survivors.person_key
