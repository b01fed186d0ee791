{#- Incremental identity: int_customer_identity and int_customer_profiles do not depend on as_of;
    they change only with the customers and orders rows int_customers_checked and
    int_orders_checked decide. A daily build recomputes only the people those rows touch.

    int_customer_identity (person_scope_*), one row per customer id, keyed by the person it
    belongs to (`_person_key`: the E.164 of its valid mobile, else the id itself): a build takes
    the ids with a customers row or an order decided since its last build, and recomputes every
    person one of them belonged to (stored `_person_key`) or belongs to now. Deleting the rows of
    those persons and inserting theirs again also handles an id that moved to another person or
    is gone (its row rejected, its orders too).

    int_customer_profiles (survivor_scope_*), one row per surviving id: a build recomputes the
    survivors of the identity rows written since its last build and of the ids whose customers
    row was decided since, and removes the rows of ids that are no longer survivors.

    Both rebuild everything when an upstream was rebuilt in full (every row stamped after what
    was seen) or is empty, when the model's code (identity: or the merge rule, person_key())
    changed, without state, or on `--full-refresh`.
    State: seen_stamp = the first upstream's max(_built); detail = the second upstream's
    max(_built) | the hash of the model's code. -#}

{#- The person a customer id belongs to: its valid mobile when it has one. -#}
{% macro person_key(customers, customer_id) -%}
    coalesce(case when {{ customers }}.phone_class in ('valid_mobile', 'virtual_operator') then {{ customers }}.e164 end, {{ customer_id }})
{%- endmacro %}

{#- What identity's rows depend on besides its inputs: its code and the merge rule (which phone
    classes make one person). A change rebuilds it in full. -#}
{% macro person_scope_fingerprint() -%}
    {{ return(local_md5(model.raw_code ~ person_key('customers', 'customer_id'))) }}
{%- endmacro %}

{#- The plan table both scopes share: the two seen stamps, this build's stamp and whether it
    rebuilds in full. `first` / `second`: the upstream relations whose `_built` the state keeps. -#}
{% macro two_upstream_plan(first, second, own_columns_needed, fingerprint) -%}
{%- set own_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
{%- set comparable = '_built' in (adapter.get_columns_in_relation(first) | map(attribute='name') | list)
    and '_built' in (adapter.get_columns_in_relation(second) | map(attribute='name') | list)
    and (own_columns_needed | reject('in', own_columns) | list | length) == 0 -%}
{%- set own_stamps = ['(select max(_built) from ' ~ this ~ ')'] if '_built' in own_columns else [] -%}
create or replace table {{ scratch_relation('plan') }} as
with seen as (
    {{ seen_state([['second_seen_stamp', dbt.type_timestamp()], ['fingerprint', none]], stamp_name='first_seen_stamp') }}
)

select
    seen.first_seen_stamp,
    seen.second_seen_stamp,
    {{ growing_stamp(own_stamps) }} as stamp,
    {% if comparable -%}
    seen.first_seen_stamp is null
    or seen.second_seen_stamp is null
    or seen.fingerprint <> '{{ fingerprint }}'
    {%- for upstream, stamp in [(first, 'first_seen_stamp'), (second, 'second_seen_stamp')] %}
    -- {{ upstream.identifier }} rebuilt in full since (every row stamped after what was seen, or
    -- none as late as it: a clock set back), or empty
    or coalesce((select min(_built) from {{ upstream }}) > seen.{{ stamp }}, true)
    or coalesce((select max(_built) from {{ upstream }}) < seen.{{ stamp }}, true)
    {%- endfor %}
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from seen
{%- endmacro %}

{#- Post-hook of both scopes: what this build has seen; drops the plan tables. -#}
{% macro two_upstream_finish(first, second, scratch, fingerprint) -%}
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    (select max(_built) from {{ first }}),
    cast(null as {{ dbt.type_bigint() }}),
    {{ dbt.concat([
        "coalesce(" ~ dbt.safe_cast('(select max(_built) from ' ~ second ~ ')', dbt.type_string()) ~ ", '')", "'|'",
        "'" ~ fingerprint ~ "'"]) }},
    {{ dbt.current_timestamp() }};
drop table if exists {{ scratch_relation('plan') }};
drop table if exists {{ scratch_relation(scratch) }}
{%- endmacro %}

{#- Pre-hook of int_customer_identity: decide, list the persons to recompute, delete their rows. -#}
{% macro person_scope_plan() -%}
{%- if execute and is_incremental() -%}
{%- set customers = ref('int_customers_checked') -%}
{%- set orders = ref('int_orders_checked') -%}
{%- set plan = scratch_relation('plan') -%}
{%- set comparable = '_person_key' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
{{ two_upstream_plan(customers, orders, ['_built', '_person_key'], person_scope_fingerprint()) }};

create or replace table {{ scratch_relation('persons') }} as
{% if comparable -%}
with plan as (
    select * from {{ plan }}
),

changed_ids as (
    select customers.customer_id
    from {{ customers }} as customers
    cross join plan
    where not plan.full_rebuild and customers._built > plan.first_seen_stamp and customers.customer_id is not null
    union
    select orders.customer_id
    from {{ orders }} as orders
    cross join plan
    where not plan.full_rebuild and orders._built > plan.second_seen_stamp and orders.customer_id is not null
)

-- the person each changed id belonged to
select identity._person_key as person_key
from {{ this }} as identity
where identity.customer_id in (select customer_id from changed_ids)
union
-- and the person it belongs to now
select {{ person_key('customers', 'changed_ids.customer_id') }}
from changed_ids
left join {{ customers }} as customers
    on customers.customer_id = changed_ids.customer_id and customers.rejection_reason is null;

delete from {{ this }}
where (select full_rebuild from {{ plan }})
    or _person_key in (select person_key from {{ scratch_relation('persons') }})
{%- else -%}
-- a table built before identity was incremental (no _person_key): the plan rebuilds it in full
select cast(null as {{ dbt.type_string() }}) as person_key where 1 = 0;

delete from {{ this }}
{%- endif -%}
{%- endif -%}
{%- endmacro %}

{% macro person_scope_filter(column) -%}
    {{ return(plan_filter(column, 'persons', 'person_key')) }}
{%- endmacro %}

{% macro person_scope_finish() -%}
{{ two_upstream_finish(ref('int_customers_checked'), ref('int_orders_checked'), 'persons', person_scope_fingerprint()) }}
{%- endmacro %}

{#- Pre-hook of int_customer_profiles: decide, list the survivors to recompute, delete their rows
    and those of ids that are no longer survivors. -#}
{% macro survivor_scope_plan() -%}
{%- if execute and is_incremental() -%}
{%- set identity = ref('int_customer_identity') -%}
{%- set customers = ref('int_customers_checked') -%}
{%- set plan = scratch_relation('plan') -%}
{{ two_upstream_plan(identity, customers, [], local_md5(model.raw_code)) }};

create or replace table {{ scratch_relation('survivors') }} as
with plan as (
    select * from {{ plan }}
)

-- the survivors of identity rows written since (a new id, a merge, a merge undone)
select identity.survivor_customer_id as customer_id
from {{ identity }} as identity
cross join plan
where not plan.full_rebuild and identity._built > plan.first_seen_stamp
union
-- the survivors of ids whose customers row was decided since (a new name, phone, birthday, ...)
select identity.survivor_customer_id
from {{ identity }} as identity
where identity.customer_id in (
    select customers.customer_id
    from {{ customers }} as customers
    cross join plan
    where not plan.full_rebuild and customers._built > plan.second_seen_stamp
);

delete from {{ this }}
where (select full_rebuild from {{ plan }})
    or customer_id in (select customer_id from {{ scratch_relation('survivors') }})
    or customer_id not in (select survivor_customer_id from {{ identity }})
{%- endif -%}
{%- endmacro %}

{% macro survivor_scope_filter(column) -%}
    {{ return(plan_filter(column, 'survivors', 'customer_id')) }}
{%- endmacro %}

{% macro survivor_scope_finish() -%}
{{ two_upstream_finish(ref('int_customer_identity'), ref('int_customers_checked'), 'survivors', local_md5(model.raw_code)) }}
{%- endmacro %}
