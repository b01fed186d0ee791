{#- Maps every customer id the store used to one surviving id. Two ids with the same valid
    mobile (E.164) are one person; the survivor is the id registered first, then the one that
    ordered first, then the smallest id — so a rerun always picks the same survivor.

    Incremental by person (macros/identity_scope.sql, person_scope_plan): a build recomputes the
    persons of the ids whose customers row or orders were decided since its last build. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ person_scope_plan() }}",
    post_hook="{{ person_scope_finish() }}"
) }}

with customers as (
    select * from {{ ref('int_customers_checked') }}
    where rejection_reason is null
    {%- if is_incremental() %}
        and ({{ person_scope_filter('e164') }} or {{ person_scope_filter('customer_id') }})
    {%- endif %}
),

first_orders as (
    select customer_id, min(ordered_at) as first_ordered_at
    from {{ ref('int_orders_checked') }}
    where rejection_reason is null
    {%- if is_incremental() %}
        and ({{ person_scope_filter('customer_id') }} or customer_id in (select customer_id from customers))
    {%- endif %}
    group by customer_id
),

all_ids as (
    select customer_id from customers
    union
    select customer_id from first_orders
),

keyed as (
    select
        all_ids.customer_id,
        customers.registered_at,
        first_orders.first_ordered_at,
        {{ person_key('customers', 'all_ids.customer_id') }} as person_key
    from all_ids
    left join customers on all_ids.customer_id = customers.customer_id
    left join first_orders on all_ids.customer_id = first_orders.customer_id
),

ranked as (
    select
        customer_id,
        person_key,
        row_number() over (
            partition by person_key
            order by registered_at nulls last, first_ordered_at nulls last, customer_id
        ) as rank_in_person
    from keyed
    -- (incremental: the ids read above that belong to another person are not recomputed)
    where {{ person_scope_filter('person_key') }}
),

survivors as (
    select person_key, customer_id as survivor_customer_id
    from ranked
    where rank_in_person = 1
)

select
    ranked.customer_id,
    survivors.survivor_customer_id,
    ranked.customer_id <> survivors.survivor_customer_id as is_merged,
    ranked.person_key as _person_key,
    {{ plan_stamp() }} as _built
from ranked
inner join survivors on ranked.person_key = survivors.person_key
