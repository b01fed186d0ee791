{#- One row per customer and complementary category they have never bought (seed 000, 004:
    a mask buyer is a candidate for serum and cream), with the category's best seller. The
    purchased lines are read twice rather than shared through one CTE: DuckDB would copy a CTE
    used twice.

    Incremental by customer (macros/incremental_state.sql, customer_scope_plan): a build
    recomputes the customers whose purchased lines changed; the products' complementary
    categories and each category's best seller are in the fingerprint (a change rebuilds
    everything). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    meta={'customer_scope': {'products': ['category', 'complementary_categories'], 'best_sellers': true}},
    pre_hook="{{ customer_scope_plan() }}",
    post_hook="{{ customer_scope_finish() }}"
) }}

with products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null
),

bought as (
    select customer_id, category, max(ordered_on) as last_bought_on
    from {{ ref('int_purchased_lines') }}
    where {{ customer_scope_filter('customer_id') }}
    group by customer_id, category
),

complements as (
    {%- for part in range(1, 6) %}
    select distinct category, {{ dbt.split_part('complementary_categories', "';'", part) }} as candidate_category
    from products
    where complementary_categories <> ''
    {% if not loop.last %}union{% endif %}
    {%- endfor %}
),

best_sellers as (
    {{ best_sellers() }}
),

candidates as (
    select
        bought.customer_id,
        bought.category as bought_category,
        complements.candidate_category,
        bought.last_bought_on,
        row_number() over (partition by bought.customer_id, complements.candidate_category order by bought.last_bought_on desc, bought.category) as source_rank
    from bought
    inner join complements on bought.category = complements.category
    left join bought as already
        on bought.customer_id = already.customer_id and complements.candidate_category = already.category
    where complements.candidate_category is not null
        and complements.candidate_category <> ''
        and already.customer_id is null
)

select
    candidates.customer_id,
    candidates.bought_category,
    candidates.candidate_category,
    best_sellers.product_id as suggested_product_id,
    candidates.last_bought_on
from candidates
left join best_sellers
    on candidates.candidate_category = best_sellers.category and best_sellers.sales_rank = 1
where candidates.source_rank = 1
