{#- Each category's products by units sold (purchased lines up to as_of), the best seller first
    (ties: the smaller product id): cross-sell suggests a category's rank-1 product. -#}
{% macro best_sellers() -%}
    select
        lines.category,
        lines.product_id,
        row_number() over (partition by lines.category order by sum(lines.quantity) desc, lines.product_id) as sales_rank
    from {{ ref('int_purchased_lines') }} as lines
    group by lines.category, lines.product_id
{%- endmacro %}

{#- The best seller of every category as one string: part of cross_sell_candidates' fingerprint,
    so a new best seller anywhere rebuilds it. -#}
{% macro best_sellers_fingerprint() -%}
    (select {{ dbt.listagg(dbt.concat(['ranked.category', "':'", 'ranked.product_id']), "';'", 'order by ranked.category') }}
     from ({{ best_sellers() }}) as ranked
     where ranked.sales_rank = 1)
{%- endmacro %}
