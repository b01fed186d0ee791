{#- One row per customer and calendar day with a purchase on or before as_of: the day's orders,
    net paid total, and what customer_tags needs (orders in a promotion or discounted, discount).
    The BTYD summary (customer_rfm) counts these days, as lifetimes does (freq='D').

    Incremental (keyed by customer_id, purchase_date): a build recomputes only the days touched
    since its last build: the (customer, day) of every order int_orders_resolved resolved since
    then, under its customer id and the one it had before (a merge moves days between
    customers), and the days between the previous as_of and this one; days after as_of are
    removed. It rebuilds everything when int_orders_resolved was rebuilt in full since, when it
    missed a build of int_orders_resolved (resolved_builds()), when this model's code changed
    (a new column would otherwise stay null on the rows kept), when there is no state, or on
    `--full-refresh`. -#}
{%- set plan -%}{% raw -%}
{%- if is_incremental() -%}
{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}
{%- set upstream_columns = adapter.get_columns_in_relation(ref('int_orders_resolved')) | map(attribute='name') | list -%}
{%- set comparable = '_built' in upstream_columns and '_full_build' in upstream_columns and '_previous_customer_id' in upstream_columns -%}
create or replace table {{ plan_relation }} as
with seen as (
    {{ seen_state([['previous_as_of', 'date'], ['fingerprint', none], ['resolved_builds_seen', dbt.type_bigint()]]) }}
)
select
    seen.seen_stamp,
    seen.previous_as_of,
    {% if comparable -%}
    seen.seen_stamp is null
    or seen.previous_as_of is null
    or seen.fingerprint <> '{{ local_md5(model.raw_code) }}'
    -- int_orders_resolved rebuilt in full since, or empty, or every row of it written since
    or {{ resolved_rebuilt_since(ref('int_orders_resolved'), 'seen.seen_stamp') }}
    -- a build of int_orders_resolved missed (see resolved_builds())
    or coalesce({{ resolved_builds() }} > seen.resolved_builds_seen + 1, true)
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from seen;

create or replace table {{ keys_relation }} as
{% if comparable -%}
with plan as (
    select * from {{ plan_relation }}
),
as_of as (
    select * from {{ ref('int_as_of') }}
),
resolved_since as (
    select resolved.customer_id, resolved._previous_customer_id, resolved.ordered_on
    from {{ ref('int_orders_resolved') }} as resolved
    cross join plan
    where resolved._built > plan.seen_stamp
)
select customer_id, ordered_on as purchase_date from resolved_since
union
select _previous_customer_id, ordered_on from resolved_since where _previous_customer_id is not null
union
-- days that entered the as_of window
select resolved.customer_id, resolved.ordered_on
from {{ ref('int_orders_resolved') }} as resolved
cross join plan
cross join as_of
where resolved.is_purchase
    and resolved.ordered_on > plan.previous_as_of
    and resolved.ordered_on <= as_of.as_of_date
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as customer_id, cast(null as date) as purchase_date where false
{%- endif %};

delete from {{ this }} as target
where (select full_rebuild from {{ plan_relation }})
    or exists (
        select 1 from {{ keys_relation }} as k
        where k.customer_id = target.customer_id and k.purchase_date = target.purchase_date
    )
{%- endif -%}
{%- endraw %}{%- endset -%}
{%- set finish -%}{% raw -%}
delete from {{ this }} where purchase_date > (select as_of_date from {{ ref('int_as_of') }});
delete from "{{ this.database }}"."intermediate"."incremental_state" where model = '{{ this.identifier }}';
insert into "{{ this.database }}"."intermediate"."incremental_state"
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref('int_orders_resolved') }}),
    cast(null as bigint),
    (select cast(as_of_date as varchar) from {{ ref('int_as_of') }}) || '|{{ local_md5(model.raw_code) }}|' || coalesce(cast({{ resolved_builds() }} as varchar), ''),
    current_timestamp;
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan";
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan_keys"
{%- endraw %}{%- endset -%}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=plan,
    post_hook=finish
) }}

{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}

with orders as (
    select * from {{ ref('int_orders_resolved') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
)

select
    orders.customer_id,
    orders.ordered_on as purchase_date,
    cast(count(*) as integer) as purchase_orders,
    {{ to_money('sum(orders.net_amount)') }} as day_total,
    cast(sum(case when orders.is_promotion_order or orders.is_discounted then 1 else 0 end) as integer) as promotion_orders,
    {{ to_money('sum(orders.discount_amount)') }} as day_discount
from orders
cross join as_of
where orders.is_purchase
    and orders.ordered_on <= as_of.as_of_date
    {%- if is_incremental() %}
    and (
        (select full_rebuild from {{ plan_relation }})
        or exists (
            select 1 from {{ keys_relation }} as k
            where k.customer_id = orders.customer_id and k.purchase_date = orders.ordered_on
        )
    )
    {%- endif %}
group by orders.customer_id, orders.ordered_on
