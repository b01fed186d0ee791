{#- Customer-history incremental models (int_member_tier_days, member_tier_history,
    int_member_tier_latest, int_customer_purchase_summary): rows that are a function of one customer's resolved orders on or
    before as_of (running totals, a summary, the changes between days), read from
    int_orders_resolved or from a customer-keyed model built from it in the same build. A build
    recomputes every row of the customers
    - with an order int_orders_resolved resolved since this model's last build, under the
      customer id it has and the one it had before (a merge moves orders between customers);
    - with an order that entered the as_of window (after the previous as_of, up to this one);
    - with a row dated after as_of (an as_of moved back; `date` is the model's day column).
    It rebuilds everything when int_orders_resolved was rebuilt in full since, or every row of
    it was written since, when this model missed a build of int_orders_resolved
    (resolved_builds()), when the model's code or the vars it names in `rules` changed, or the
    fingerprint the models it names in `reads` (what it reads instead of int_orders_resolved)
    recorded when they were last built, without state, or on `--full-refresh`.

    A model opts in with
      meta={'customer_history': {'date': its day column, 'rules': [var names], 'reads': [model names]}},
      materialized='incremental', incremental_strategy='append',
      pre_hook="{{ customer_history_plan() }}",
      post_hook="{{ customer_history_finish() }}"
    and filters its read of int_orders_resolved with customer_history_filter(column).
    State: seen_stamp = int_orders_resolved's max(_built); detail = as_of | fingerprint |
    resolved_builds(). A model that `reads` others records no more than they had seen (the
    earliest seen_stamp, as_of and build count among them) and their recorded fingerprints, not
    their code: a partial `--select` that builds it without them computes its customers from
    their older rows, and the next build recomputes those customers (or everything, for new code
    or rules there) once they have caught up, instead of taking them as done. -#}

{% macro customer_history_settings() -%}
    {%- set settings = (config.get('meta') or {}).get('customer_history') or {} -%}
    {{ return({'date': settings.get('date'), 'rules': settings.get('rules') or [],
               'reads': settings.get('reads') or []}) }}
{%- endmacro %}

{#- SQL for this model's fingerprint: its code and rule vars, and the fingerprints the models in
    `reads` recorded in their state when they were built (theirs include their own reads), so new
    code or rules there rebuild this model once they have been built with them. -#}
{% macro customer_history_fingerprint() -%}
    {%- set settings = customer_history_settings() -%}
    {%- set rules = {'code': local_md5(model.raw_code)} -%}
    {%- for name in settings.rules -%}
        {%- do rules.update({name: var(name, none)}) -%}
    {%- endfor -%}
    {%- set own = "'" ~ local_md5(tojson(rules, sort_keys=true)) ~ "'" -%}
    {%- if not settings.reads -%}
        {{ return(own) }}
    {%- endif -%}
    {%- set parts = [own] -%}
    {%- for name in settings.reads | sort -%}
        {%- do parts.extend(["'|'", "coalesce((select " ~ state_detail_part(2) ~ " from "
                             ~ incremental_state_relation() ~ " where model = '" ~ name ~ "'), '')"]) -%}
    {%- endfor -%}
    {{ return(dbt.hash(dbt.concat(parts))) }}
{%- endmacro %}

{#- SQL for the least of `own` and `state_value` in the state rows of the models in `reads`: what
    this model has seen is no more than what they had seen when they were built. -#}
{% macro customer_history_least_seen(own, state_value) -%}
(select min(seen) from (
    select {{ own }} as seen
    {%- for name in customer_history_settings().reads %}
    union all
    select {{ state_value }} from {{ incremental_state_relation() }} where model = '{{ name }}'
    {%- endfor %}
) as seen_values)
{%- endmacro %}

{#- Pre-hook: decide, list the customers to recompute, delete their rows. -#}
{% macro customer_history_plan() -%}
{%- if execute and is_incremental() -%}
{%- set resolved = ref('int_orders_resolved') -%}
{%- set plan = scratch_relation('plan') -%}
{%- set resolved_columns = adapter.get_columns_in_relation(resolved) | map(attribute='name') | list -%}
{%- set comparable = '_built' in resolved_columns and '_full_build' in resolved_columns and '_previous_customer_id' in resolved_columns -%}
create or replace table {{ plan }} as
with seen as (
    {{ seen_state([['previous_as_of', 'date'], ['fingerprint', none], ['resolved_builds_seen', dbt.type_bigint()]]) }}
)

select
    seen.seen_stamp,
    seen.previous_as_of,
    {% if comparable -%}
    seen.seen_stamp is null
    or seen.previous_as_of is null
    or seen.fingerprint <> {{ customer_history_fingerprint() }}
    -- a build of int_orders_resolved missed (see resolved_builds())
    or coalesce({{ resolved_builds() }} > seen.resolved_builds_seen + 1, true)
    -- int_orders_resolved rebuilt in full since, or empty, or every row of it written since
    or {{ resolved_rebuilt_since(resolved, 'seen.seen_stamp') }}
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from seen;

create or replace table {{ scratch_relation('customers') }} as
{% if comparable -%}
with resolved_since as (
    select resolved.customer_id, resolved._previous_customer_id
    from {{ resolved }} as resolved
    cross join {{ plan }} as plan
    where not plan.full_rebuild and resolved._built > plan.seen_stamp
)

select customer_id from resolved_since
union
select _previous_customer_id from resolved_since where _previous_customer_id is not null
union
-- orders that entered the as_of window
select resolved.customer_id
from {{ resolved }} as resolved
cross join {{ plan }} as plan
cross join {{ ref('int_as_of') }} as as_of
where not plan.full_rebuild
    and resolved.ordered_on > plan.previous_as_of
    and resolved.ordered_on <= as_of.as_of_date
union
-- rows after as_of (an as_of moved back): the customer is recomputed without the later orders
select target.customer_id
from {{ this }} as target
cross join {{ plan }} as plan
cross join {{ ref('int_as_of') }} as as_of
where not plan.full_rebuild
    and target.{{ customer_history_settings().date }} > as_of.as_of_date
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as customer_id where 1 = 0
{%- endif %};

delete from {{ this }}
where (select full_rebuild from {{ plan }})
    or customer_id in (select customer_id from {{ scratch_relation('customers') }})
{%- endif -%}
{%- endmacro %}

{#- In the model's body: true for the rows of the customers this build recomputes. -#}
{% macro customer_history_filter(column) -%}
    {{ return(plan_filter(column, 'customers', 'customer_id')) }}
{%- endmacro %}

{#- Post-hook: what this build has seen; drops the plan tables. -#}
{% macro customer_history_finish() -%}
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    {{ customer_history_least_seen('(select max(_built) from ' ~ ref('int_orders_resolved') ~ ')', 'seen_stamp') }},
    cast(null as {{ dbt.type_bigint() }}),
    {{ dbt.concat([
        dbt.safe_cast(customer_history_least_seen('(select as_of_date from ' ~ ref('int_as_of') ~ ')',
                                                  state_detail_part(1, 'date')), dbt.type_string()), "'|'",
        customer_history_fingerprint(), "'|'",
        "coalesce(" ~ dbt.safe_cast(customer_history_least_seen(resolved_builds(), state_detail_part(3, dbt.type_bigint())),
                                    dbt.type_string()) ~ ", '')"]) }},
    {{ dbt.current_timestamp() }};
drop table if exists {{ scratch_relation('plan') }};
drop table if exists {{ scratch_relation('customers') }}
{%- endmacro %}
