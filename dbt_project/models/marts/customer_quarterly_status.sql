{#- One row per customer per calendar quarter (the last quarterly_status_quarters quarters up to
    as_of's): active (季度活跃) bought in the quarter; sleeping (季度沉睡) bought before but not in
    it; potential (季度潜在) known by the quarter's end but never bought.

    One aggregate per customer (first purchase day, and a flag per quarter: bought in it or not)
    and one join with the profiles, then a row per quarter; no join of every purchase day with
    every quarter.

    A view: as a table it rewrote quarterly_status_quarters rows per customer on every build (163M
    rows, 22 s of the daily build at 100M order lines), while a query over it costs one aggregate of
    the purchase days (about 1 s at 10M lines). dbt_project.yml makes it a view; a store that
    queries it often can make it a table there again. -#}
{%- set quarter_count = var('quarterly_status_quarters') -%}
with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
),

profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

offsets as (
    {{ integers(quarter_count, 'quarter_offset') }}
),

quarters as (
    select
        offsets.quarter_offset,
        cast({{ dbt.dateadd('month', '-3 * offsets.quarter_offset', dbt.date_trunc('quarter', 'as_of.as_of_date')) }} as date) as quarter_start
    from offsets
    cross join as_of
),

bounded as (
    select
        quarter_offset,
        quarter_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, 'quarter_start')) }} as date) as quarter_end
    from quarters
),

-- quarter_offset 0 is as_of's quarter, 1 the one before, ...
dated as (
    select
        purchase_days.customer_id,
        purchase_days.purchase_date,
        {{ dbt.datediff('purchase_days.purchase_date', 'as_of.as_of_date', 'quarter') }} as quarter_offset
    from purchase_days
    cross join as_of
),

buyers as (
    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        {%- for offset in range(quarter_count) %}
        max(case when quarter_offset = {{ offset }} then 1 else 0 end) as bought_in_quarter_{{ offset }}{{ ',' if not loop.last }}
        {%- endfor %}
    from dated
    group by customer_id
),

customers as (
    select
        coalesce(buyers.customer_id, profiles.customer_id) as customer_id,
        cast(profiles.registered_at as date) as registered_on,
        buyers.first_purchase_date,
        {%- for offset in range(quarter_count) %}
        buyers.bought_in_quarter_{{ offset }}{{ ',' if not loop.last }}
        {%- endfor %}
    from buyers
    full outer join profiles on buyers.customer_id = profiles.customer_id
)

select
    customers.customer_id,
    bounded.quarter_start,
    case
        when case bounded.quarter_offset
            {%- for offset in range(quarter_count) %}
            when {{ offset }} then customers.bought_in_quarter_{{ offset }}
            {%- endfor %}
        end = 1 then 'active'
        when customers.first_purchase_date <= bounded.quarter_end then 'sleeping'
        else 'potential'
    end as quarter_status
from customers
cross join bounded
-- known by the quarter's end: bought or registered by then
where customers.first_purchase_date <= bounded.quarter_end
    or customers.registered_on <= bounded.quarter_end
