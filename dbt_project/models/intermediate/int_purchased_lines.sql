{#- Purchased order lines on or before as_of with their product: the grain of repurchase,
    cross-sell, up-sell and referral rules. Refund lines are left out.

    Incremental (keyed by order_key): a build recomputes the lines of the orders
    int_orders_resolved resolved since its last build (a new order, a merge that moved it to
    another customer, changed refund lines), of the orders with a line int_order_lines_checked
    decided since (a new line, a line that became a duplicate), and of the orders that entered
    the as_of window; lines after as_of are removed. The customers whose lines a build takes
    away are appended to int_purchased_lines__changes, for the customer-scoped marts. It rebuilds everything when
    int_orders_resolved or int_order_lines_checked was rebuilt in full since, when the accepted
    products (category, line, price, cycle, durability) or this model's code changed, without
    state, or on `--full-refresh`. State: seen_stamp = int_orders_resolved's max(_built); detail
    = as_of | int_order_lines_checked's max(_built) | fingerprint of the products and the code. -#}
{%- set plan -%}{% raw -%}
{%- if is_incremental() -%}
{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}
{%- set changes_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__changes"' -%}
{%- set resolved_columns = adapter.get_columns_in_relation(ref('int_orders_resolved')) | map(attribute='name') | list -%}
{%- set lines_columns = adapter.get_columns_in_relation(ref('int_order_lines_checked')) | map(attribute='name') | list -%}
{%- set own_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
{%- set comparable = '_built' in resolved_columns and '_full_build' in resolved_columns and '_built' in lines_columns and '_built' in own_columns -%}
create or replace table {{ plan_relation }} as
with state as (
    select max(seen_stamp) as seen_stamp, max(detail) as detail
    from {{ incremental_state_relation() }}
    where model = '{{ this.identifier }}'
),

seen as (
    select
        seen_stamp,
        {{ dbt.safe_cast(dbt.split_part('detail', "'|'", 1), 'date') }} as previous_as_of,
        {{ dbt.safe_cast(dbt.split_part('detail', "'|'", 2), dbt.type_timestamp()) }} as lines_seen_stamp,
        {{ dbt.split_part('detail', "'|'", 3) }} as fingerprint
    from state
)

select
    seen.seen_stamp,
    seen.previous_as_of,
    seen.lines_seen_stamp,
    {% if comparable -%}
    seen.seen_stamp is null
    or seen.previous_as_of is null
    or seen.lines_seen_stamp is null
    or seen.fingerprint <> {{ purchased_lines_fingerprint() }}
    -- int_orders_resolved rebuilt in full since
    or coalesce((select max(_built) from {{ ref('int_orders_resolved') }} where _full_build) > seen.seen_stamp, false)
    -- int_order_lines_checked rebuilt in full since (every line stamped after what was seen), or empty
    or coalesce((select min(_built) from {{ ref('int_order_lines_checked') }}) > seen.lines_seen_stamp, true)
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from seen;

create or replace table {{ keys_relation }} as
{% if comparable -%}
select resolved.order_key
from {{ ref('int_orders_resolved') }} as resolved
cross join {{ plan_relation }} as plan
cross join {{ ref('int_as_of') }} as as_of
where resolved._built > plan.seen_stamp
    or (resolved.ordered_on > plan.previous_as_of and resolved.ordered_on <= as_of.as_of_date)
union
select lines.order_id
from {{ ref('int_order_lines_checked') }} as lines
cross join {{ plan_relation }} as plan
where lines._built > plan.lines_seen_stamp and lines.order_id is not null
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as order_key where false
{%- endif %};

-- the customers whose lines this build takes away (an order merged into another customer, a
-- line now rejected): customer-scoped marts recompute them (macros/incremental_state.sql)
create table if not exists {{ changes_relation }} (
    customer_id {{ dbt.type_string() }}, changed_at {{ dbt.type_timestamp() }});
delete from {{ changes_relation }} where (select full_rebuild from {{ plan_relation }});
insert into {{ changes_relation }} (customer_id, changed_at)
select distinct customer_id, cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') }}' as {{ dbt.type_timestamp() }})
from {{ this }}
where not (select full_rebuild from {{ plan_relation }})
    and order_key in (select order_key from {{ keys_relation }});

delete from {{ this }}
where (select full_rebuild from {{ plan_relation }})
    or order_key in (select order_key from {{ keys_relation }})
{%- endif -%}
{%- endraw %}{%- endset -%}
{%- set finish -%}{% raw -%}
{%- set changes_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__changes"' -%}
create table if not exists {{ changes_relation }} (
    customer_id {{ dbt.type_string() }}, changed_at {{ dbt.type_timestamp() }});
-- an as_of moved back takes the later lines away: their customers change too
insert into {{ changes_relation }} (customer_id, changed_at)
select distinct customer_id, cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') }}' as {{ dbt.type_timestamp() }})
from {{ this }}
where ordered_on > (select as_of_date from {{ ref('int_as_of') }});
delete from {{ this }} where ordered_on > (select as_of_date from {{ ref('int_as_of') }});
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref('int_orders_resolved') }}),
    cast(null as {{ dbt.type_bigint() }}),
    {{ dbt.concat([
        dbt.safe_cast('(select as_of_date from ' ~ ref('int_as_of') ~ ')', dbt.type_string()), "'|'",
        dbt.safe_cast('(select max(_built) from ' ~ ref('int_order_lines_checked') ~ ')', dbt.type_string()), "'|'",
        purchased_lines_fingerprint()]) }},
    {{ dbt.current_timestamp() }};
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan";
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan_keys"
{%- endraw %}{%- endset -%}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=["{{ incremental_state_ddl() }}", plan],
    post_hook=finish
) }}

{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}

with lines as (
    select * from {{ ref('int_order_lines_checked') }}
    where rejection_reason is null
    {%- if is_incremental() %}
        and (
            (select full_rebuild from {{ plan_relation }})
            or order_id in (select order_key from {{ keys_relation }})
        )
    {%- endif %}
),

orders as (
    select * from {{ ref('int_orders_resolved') }}
    {%- if is_incremental() %}
    where (select full_rebuild from {{ plan_relation }})
        or order_key in (select order_key from {{ keys_relation }})
    {%- endif %}
),

products as (
    select * from {{ ref('int_products_checked') }} where rejection_reason is null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

stamp as (
    select cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') }}' as {{ dbt.type_timestamp() }}) as built
)

select
    orders.customer_id,
    orders.order_key,
    orders.ordered_on,
    lines.product_id,
    products.category,
    products.product_line,
    products.price,
    products.consumption_cycle_days,
    products.is_durable,
    lines.quantity,
    lines.amount,
    stamp.built as _built
from lines
inner join orders on lines.order_id = orders.order_key
inner join products on lines.product_id = products.product_id
cross join as_of
cross join stamp
where orders.is_purchase
    and lines.amount >= 0
    and lines.quantity > 0
    and orders.ordered_on <= as_of.as_of_date
