{#- One row per customer whose status differs from the previous as_of built for them.

    Incremental (keyed by as_of_date): the history gains a snapshot of every customer per as_of
    built, so comparing each customer's whole history again would cost a little more every day
    (a window over 20M rows per as_of at 100M order lines). A build recomputes only the changes
    of this build's as_of and of the snapshots after it, against the snapshot before them (the
    anchor); a customer missing from the anchor (new, or merged away then) is looked up in the
    older snapshots. A daily build (no snapshot after its as_of) joins its snapshot to the
    anchor; an earlier as_of built again orders the snapshots from the anchor on per customer.
    It also removes the changes of snapshots no longer in the history. `--full-refresh` compares
    the whole history. -#}
{%- set clear -%}{% raw -%}
{%- if is_incremental() -%}
delete from {{ this }}
where as_of_date >= (select as_of_date from {{ ref('int_as_of') }})
    -- distinct: over the few dates, not a hash table of every history row (0.02 s against 1.7 s at 100M)
    or as_of_date not in (select distinct as_of_date from {{ ref('customer_lifecycle_history') }})
{%- endif -%}
{%- endraw %}{%- endset -%}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=clear
) }}

-- depends_on: {{ ref('int_as_of') }}
{%- set history = ref('customer_lifecycle_history') -%}
{%- set recompute_from, anchor, later_snapshots = none, none, false -%}
{%- if execute and is_incremental() -%}
    {#- dates as literals, so the scans skip the other snapshots' row groups -#}
    {%- set dates_query -%}
        select
            cast(as_of.as_of_date as {{ dbt.type_string() }}),
            (select cast(max(history.as_of_date) as {{ dbt.type_string() }}) from {{ history }} as history
             where history.as_of_date < as_of.as_of_date),
            (select count(*) from {{ history }} as history where history.as_of_date > as_of.as_of_date)
        from {{ ref('int_as_of') }} as as_of
    {%- endset -%}
    {%- set dates = run_query(dates_query).rows[0] -%}
    {%- if dates[0] is not none -%}
        {%- set recompute_from = "cast('" ~ dates[0] ~ "' as date)" -%}
        {%- if dates[1] is not none -%}{%- set anchor = "cast('" ~ dates[1] ~ "' as date)" -%}{%- endif -%}
        {%- set later_snapshots = dates[2] > 0 -%}
    {%- endif -%}
{%- endif %}
{%- set columns = 'customer_id, as_of_date, lifecycle_status, status_since' %}
{#- The earlier snapshots of the customers of the recomputed snapshots that have no row in the anchor. -#}
{%- set older_rows_of_customers_missing_from_anchor -%}
    select {{ columns }}
    from {{ history }}
    where as_of_date < {{ anchor }}
        and customer_id in (
            select customer_id from {{ history }} where as_of_date >= {{ recompute_from }}
            except
            select customer_id from {{ history }} where as_of_date = {{ anchor }}
        )
{%- endset %}

{%- if recompute_from is not none and not later_snapshots %}

-- a daily build: its snapshot against each customer's previous one
with snapshot as (
    select {{ columns }} from {{ history }} where as_of_date = {{ recompute_from }}
),

previous as (
    {%- if anchor is not none %}
    select {{ columns }} from {{ history }} where as_of_date = {{ anchor }}
    union all
    -- customers missing from the anchor: their latest older snapshot
    select {{ columns }}
    from (
        select older.*, row_number() over (partition by customer_id order by as_of_date desc) as recency
        from ({{ older_rows_of_customers_missing_from_anchor }}) as older
    ) as older
    where recency = 1
    {%- else %}
    select {{ columns }} from {{ history }} where 1 = 0
    {%- endif %}
)

select
    snapshot.customer_id,
    snapshot.as_of_date,
    previous.as_of_date as previous_as_of_date,
    previous.lifecycle_status as previous_status,
    snapshot.lifecycle_status,
    snapshot.status_since
from snapshot
inner join previous on previous.customer_id = snapshot.customer_id
where previous.lifecycle_status <> snapshot.lifecycle_status
{%- else %}

with
{%- if recompute_from is not none %}

-- an earlier as_of built again: the snapshots from the anchor on
compared as (
    select {{ columns }} from {{ history }}
    where as_of_date >= {{ anchor or recompute_from }}
    {%- if anchor is not none %}
    union all
    -- customers of the recomputed snapshots without a row in the anchor: their earlier snapshots
    {{ older_rows_of_customers_missing_from_anchor }}
    {%- endif %}
),
{%- else %}

compared as (
    select {{ columns }} from {{ history }}
),
{%- endif %}

with_previous as (
    select
        compared.*,
        lag(as_of_date) over (partition by customer_id order by as_of_date) as previous_as_of_date,
        lag(lifecycle_status) over (partition by customer_id order by as_of_date) as previous_status
    from compared
)

select
    customer_id,
    as_of_date,
    previous_as_of_date,
    previous_status,
    lifecycle_status,
    status_since
from with_previous
where previous_status is not null
    and previous_status <> lifecycle_status
    {%- if recompute_from is not none %}
    and as_of_date >= {{ recompute_from }}
    {%- endif %}
{%- endif %}
