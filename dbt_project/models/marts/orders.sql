{#- One row per accepted order placed on or before as_of (rejected rows are in quarantine).

    Incremental (keyed by order_key): a build copies only the orders int_orders_resolved
    resolved since its last build and those that entered the as_of window; orders after as_of
    are removed. It rebuilds everything when int_orders_resolved was rebuilt in full since,
    when there is no state, or on `--full-refresh`. -#}
{%- set state_ddl -%}{% raw -%}
create table if not exists "{{ this.database }}"."intermediate"."incremental_state" (
    model varchar, seen_stamp timestamp, seen_load_id bigint, detail varchar, built_at timestamp)
{%- endraw %}{%- endset -%}
{%- set plan -%}{% raw -%}
{%- if is_incremental() -%}
{%- set plan_relation = '"' ~ this.database ~ '"."intermediate"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."intermediate"."' ~ this.identifier ~ '__plan_keys"' -%}
{%- set upstream_columns = adapter.get_columns_in_relation(ref('int_orders_resolved')) | map(attribute='name') | list -%}
{%- set comparable = '_built' in upstream_columns and '_full_build' in upstream_columns -%}
create or replace table {{ plan_relation }} as
with state as (
    select max(seen_stamp) as seen_stamp, try_cast(max(detail) as date) as previous_as_of
    from "{{ this.database }}"."intermediate"."incremental_state"
    where model = '{{ this.identifier }}'
)
select
    state.seen_stamp,
    state.previous_as_of,
    {% if comparable -%}
    state.seen_stamp is null
    or state.previous_as_of is null
    or coalesce((select max(_built) from {{ ref('int_orders_resolved') }} where _full_build) > state.seen_stamp, false)
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from state;

create or replace table {{ keys_relation }} as
{% if comparable -%}
select resolved.order_key
from {{ ref('int_orders_resolved') }} as resolved
cross join {{ plan_relation }} as plan
cross join {{ ref('int_as_of') }} as as_of
where resolved._built > plan.seen_stamp
    or (resolved.ordered_on > plan.previous_as_of and resolved.ordered_on <= as_of.as_of_date)
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as order_key where false
{%- endif %};

delete from {{ this }}
where (select full_rebuild from {{ plan_relation }})
    or order_key in (select order_key from {{ keys_relation }})
{%- endif -%}
{%- endraw %}{%- endset -%}
{%- set finish -%}{% raw -%}
delete from {{ this }} where ordered_on > (select as_of_date from {{ ref('int_as_of') }});
delete from "{{ this.database }}"."intermediate"."incremental_state" where model = '{{ this.identifier }}';
insert into "{{ this.database }}"."intermediate"."incremental_state"
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref('int_orders_resolved') }}),
    cast(null as bigint),
    (select cast(as_of_date as varchar) from {{ ref('int_as_of') }}),
    current_timestamp;
drop table if exists "{{ this.database }}"."intermediate"."{{ this.identifier }}__plan";
drop table if exists "{{ this.database }}"."intermediate"."{{ this.identifier }}__plan_keys"
{%- endraw %}{%- endset -%}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=[state_ddl, plan],
    post_hook=finish
) }}

{%- set plan_relation = '"' ~ this.database ~ '"."intermediate"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."intermediate"."' ~ this.identifier ~ '__plan_keys"' -%}

with orders as (
    select * from {{ ref('int_orders_resolved') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    orders.order_key,
    orders.order_id,
    orders.customer_id,
    orders.source_customer_id,
    orders.status,
    orders.channel,
    orders.promotion_id,
    orders.is_promotion_order,
    orders.is_discounted,
    orders.is_refund,
    orders.is_purchase,
    orders.gross_amount,
    orders.refunded_amount,
    orders.net_amount,
    orders.discount_amount,
    orders.quantity,
    orders.ordered_at,
    orders.ordered_on,
    orders.source_file,
    orders.source_row
from orders
cross join as_of
where orders.ordered_on <= as_of.as_of_date
{%- if is_incremental() %}
    and (
        (select full_rebuild from {{ plan_relation }})
        or orders.order_key in (select order_key from {{ keys_relation }})
    )
{%- endif %}
