{#- One row per accepted product: the catalogue analysts and message templates read. -#}
select
    product_id,
    product_name,
    category,
    product_line,
    price,
    consumption_cycle_days,
    complementary_categories,
    is_durable
from {{ ref('int_products_checked') }}
where rejection_reason is null
