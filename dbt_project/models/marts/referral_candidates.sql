{#- One row per customer who bought a durable product (never comes due): referral (老带新)
    campaigns ask them to bring a friend instead of rebuying (seed 000). -#}
with lines as (
    select * from {{ ref('int_purchased_lines') }}
)

select
    customer_id,
    min(ordered_on) as first_durable_purchase_on,
    max(ordered_on) as last_durable_purchase_on,
    count(distinct product_id) as durable_products
from lines
where is_durable
group by customer_id
