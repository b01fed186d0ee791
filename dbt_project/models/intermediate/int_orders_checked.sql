{#- Every order row with the first reason it cannot be used (null = accepted). Refund rows
    (status refunded, negative amount) are accepted: they are not purchases but reduce spend.

    Incremental (one row per raw row, keyed by source_file + source_row): parsing the landing
    text (stg_orders) is the costly step, so a build parses only the rows of landing files loaded
    since the last build (raw.load_files.load_id above the one recorded in
    intermediate.incremental_state) and re-decides, from the rows already parsed here:
    - every row whose order_key a new row also has (which row of a key is first may change; the
      first occurrence wins, in the order of source_file then source_row, as in a full build);
    - every row whose future_timestamp decision the load date may change.
    When the landing files of orders were reloaded or removed (a row's _load_id is no longer in
    raw.load_files), when max_order_amount, store_timezone, day_first_dates or this model's code
    changed (the state's fingerprint, incremental_fingerprint()), when there is no state, or on
    `--full-refresh`, every row is parsed again.
    A post-hook removes the rows of files no longer loaded. Internal columns: _load_id (the load
    that read the row's file), _reprocessed (a row decided again, or a full build: downstream
    models then check whether an accepted order changed), _built (when the row was decided). -#}
{%- set drop_unloaded -%}{% raw -%}
{%- if adapter.get_relation(this.database, 'raw', 'load_files') -%}
delete from {{ this }}
where _load_id is null
    or _load_id not in (select load_id from "{{ this.database }}"."raw"."load_files" where table_name = 'orders')
{%- endif -%}
{%- endraw %}{%- endset -%}
{%- set state_write -%}{% raw -%}
delete from "{{ this.database }}"."intermediate"."incremental_state" where model = '{{ this.identifier }}';
insert into "{{ this.database }}"."intermediate"."incremental_state"
select
    '{{ this.identifier }}',
    (select max(_built) from {{ this }}),
    {% if adapter.get_relation(this.database, 'raw', 'load_files') -%}
    (select max(load_id) from "{{ this.database }}"."raw"."load_files" where table_name = 'orders'),
    {%- else -%}
    cast(null as bigint),
    {%- endif %}
    {{ incremental_fingerprint() }},
    current_timestamp
{%- endraw %}{%- endset -%}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_file', 'source_row'],
    on_schema_change='append_new_columns',
    meta={'incremental': {
        'source': 'orders',
        'rules': ['max_order_amount', 'store_timezone', 'day_first_dates'],
    }},
    post_hook=[drop_unloaded, state_write]
) }}

{#- What this build parses: everything, or the files loaded since the last build. Decided when
    the model is compiled (a literal list of files lets DuckDB filter raw rows before parsing). -#}
{%- set run_stamp = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)" -%}
{%- set files_relation = adapter.get_relation(target.database, 'raw', 'load_files') if execute else none -%}
{%- set incremental_build = false -%}
{%- set new_files = [] -%}
{%- set stg_columns = [] -%}
{%- if execute and is_incremental() and files_relation is not none -%}
    {%- set state_relation = adapter.get_relation(this.database, 'intermediate', 'incremental_state') -%}
    {%- set own_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if state_relation is not none and '_load_id' in own_columns and '_built' in own_columns -%}
        {%- set decision -%}
            select
                (select max(seen_load_id) from {{ state_relation }} where model = '{{ this.identifier }}') as seen_load_id,
                -- the rules and code the rows were decided with
                (select count(*) from {{ state_relation }}
                 where model = '{{ this.identifier }}' and detail = {{ incremental_fingerprint() }}) as same_inputs,
                (select count(*) from (select distinct _load_id from {{ this }}) as built
                 where built._load_id is null
                    or built._load_id not in (select load_id from {{ files_relation }} where table_name = 'orders')) as unloaded
        {%- endset -%}
        {%- set row = run_query(decision).rows[0] -%}
        {%- if row[0] is not none and row[1] == 1 and row[2] == 0 -%}
            {%- set incremental_build = true -%}
            {%- set new_files = run_query("select source_file from " ~ files_relation ~ " where table_name = 'orders' and load_id > " ~ row[0] ~ " order by source_file").columns[0].values() -%}
            {%- set stg_columns = adapter.get_columns_in_relation(ref('stg_orders')) | map(attribute='name') | list -%}
        {%- endif -%}
    {%- endif -%}
{%- endif -%}

{#- A stored row as the incremental branches read it again. -#}
{%- set stored_columns -%}{% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed{%- endset %}
with
{%- if incremental_build %}

new_orders as (
    select * from {{ ref('stg_orders') }}
    where {% if new_files %}source_file in ({% for f in new_files %}'{{ f | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}){% else %}false{% endif %}
),

-- The stored rows decided again are found without joining the wide stored rows to a key list
-- (at 100M rows that join reads every column of every stored row): the future-timestamp rows
-- by two filters the table scan applies, the rest (another row of one of the keys) by a join
-- over the key columns alone, which usually finds none.
future_rows as (
    select {{ stored_columns }}
    from {{ this }} as previous
    where previous.rejection_reason = 'future_timestamp'
    union
    -- ordered after the load date (cast(ordered_at as date) > load date)
    select {{ stored_columns }}
    from {{ this }} as previous
    where previous.ordered_at >= cast({{ dbt.dateadd('day', 1, load_date_literal()) }} as {{ dbt.type_timestamp() }})
),

reevaluated_keys as (
    select order_key from new_orders
    union
    select order_key from future_rows
),

other_rows as (
    select previous.source_file, previous.source_row
    from {{ this }} as previous
    where previous.order_key in (select order_key from reevaluated_keys)
    except
    select source_file, source_row from future_rows
),

orders as (
    select {% for c in stg_columns %}new_orders.{{ c }}, {% endfor %}false as _reprocessed
    from new_orders
    union all
    select * from future_rows
    union all
    select {{ stored_columns }}
    from {{ this }} as previous
    inner join other_rows
        on previous.source_file = other_rows.source_file and previous.source_row = other_rows.source_row
),

stamp as (
    select greatest(
        {{ run_stamp }},
        coalesce(max(_built) + interval '1 microsecond', {{ run_stamp }}),
        coalesce((select max(seen_stamp) from "{{ this.database }}"."intermediate"."incremental_state") + interval '1 microsecond', {{ run_stamp }})
    ) as built
    from {{ this }}
),
{%- else %}

orders as (
    select *, true as _reprocessed from {{ ref('stg_orders') }}
),

stamp as (
    {%- if execute and is_incremental() and '_built' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
    -- everything parsed again into the kept table: stamps still only grow (a clock set back
    -- would otherwise hide this full rebuild from the models that follow this one)
    {{ incremental_stamp() }}
    {%- else %}
    select {{ run_stamp }} as built
    {%- endif %}
),
{%- endif %}

-- The load date straight from the build's vars (not int_as_of, which reads this model's
-- parsed dates to find the latest order).
as_of as (
    select {{ load_date_literal() }} as load_date
),

undecodable as (
    {{ undecodable_rows('orders') }}
),

loaded_files as (
    {%- if files_relation is not none %}
    select source_file, load_id from {{ files_relation }} where table_name = 'orders'
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as source_file, cast(null as bigint) as load_id where false
    {%- endif %}
),

numbered as (
    select
        orders.*,
        row_number() over (partition by orders.order_key order by orders.source_file, orders.source_row) as order_key_occurrence,
        undecodable.source_row is not null as has_undecodable_text,
        loaded_files.load_id as _load_id
    from orders
    left join undecodable
        on orders.source_file = undecodable.source_file and orders.source_row = undecodable.source_row
    left join loaded_files
        on orders.source_file = loaded_files.source_file
),

checked as (
    select
        numbered.*,
        case
            when has_undecodable_text then 'undecodable_text'
            when customer_id is null then 'missing_customer_id'
            when ordered_at_text is null then 'missing_ordered_at'
            when ordered_at is null then 'unparseable_ordered_at'
            when cast(ordered_at as date) > as_of.load_date then 'future_timestamp'
            when amount_text is null then 'missing_amount'
            when amount is null then 'unparseable_amount'
            -- Optional numbers that are present but not numbers: the row is misaligned or
            -- hand-edited; rejected with a reason rather than read as the default (1 item, no discount).
            -- stg_orders reads an unparseable value as the default, so only a default value is
            -- parsed again (most rows are '1' item and '0.00' discount: no second parse).
            when quantity_text is not null and (quantity is null or quantity = 1) and quantity_text <> '1'
                and {{ parse_number('quantity_text') }} is null then 'unparseable_quantity'
            when discount_amount_text is not null and (discount_amount is null or discount_amount = 0)
                and discount_amount_text not in ('0', '0.0', '0.00')
                and {{ parse_number('discount_amount_text') }} is null then 'unparseable_discount_amount'
            when status is null then 'unknown_status'
            when status = 'test' then 'test_order'
            when amount < 0 and status <> 'refunded' then 'negative_amount_not_refund'
            when abs(amount) > {{ var('max_order_amount') }} then 'absurd_amount'
            when order_key_occurrence > 1 then 'duplicate_order_id'
        end as rejection_reason
    from numbered
    cross join as_of
)

select checked.*, stamp.built as _built
from checked
cross join stamp
