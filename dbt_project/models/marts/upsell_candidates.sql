{#- One row per customer and product line: the cheapest product of the same line priced at least
    upsell_min_price_ratio times the one they last bought, which they have not bought (seed 004). -#}
with lines as (
    select * from {{ ref('int_purchased_lines') }}
),

products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null and price is not null
),

last_in_line as (
    select
        customer_id,
        product_line,
        product_id,
        price,
        ordered_on,
        row_number() over (partition by customer_id, product_line order by ordered_on desc, price desc, product_id) as purchase_rank
    from lines
    where price is not null
),

options as (
    select
        last_in_line.customer_id,
        last_in_line.product_line,
        last_in_line.product_id as bought_product_id,
        last_in_line.price as bought_price,
        last_in_line.ordered_on as last_bought_on,
        products.product_id as candidate_product_id,
        products.price as candidate_price,
        row_number() over (partition by last_in_line.customer_id, last_in_line.product_line order by products.price, products.product_id) as option_rank
    from last_in_line
    inner join products
        on last_in_line.product_line = products.product_line
        and products.price >= last_in_line.price * {{ var('upsell_min_price_ratio') }}
    left join lines as already
        on last_in_line.customer_id = already.customer_id and products.product_id = already.product_id
    where last_in_line.purchase_rank = 1
        and already.customer_id is null
)

select
    customer_id,
    product_line,
    bought_product_id,
    bought_price,
    candidate_product_id,
    candidate_price,
    last_bought_on
from options
where option_rank = 1
