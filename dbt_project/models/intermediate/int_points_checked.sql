{#- Every points entry with the first reason it cannot be used (null = accepted). A row's decision
    depends on the row itself and the load date only (future_timestamp).

    Incremental (keyed by source_file + source_row; bookkeeping in macros/incremental_state.sql):
    a build parses only the rows of points files loaded since its last build and decides again,
    from the rows already parsed here, the rows whose future_timestamp decision the load date
    changed. Everything is parsed again when points files were reloaded or removed, when
    store_timezone, day_first_dates or this model's code changed, without state, or on
    `--full-refresh`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_file', 'source_row'],
    on_schema_change='append_new_columns',
    meta={'incremental': {
        'source': 'points',
        'rules': ['store_timezone', 'day_first_dates'],
    }},
    pre_hook="{{ incremental_clear_for_rebuild() }}",
    post_hook="{{ incremental_state_write() }}"
) }}

{%- set plan = incremental_plan() -%}
{%- set stg_columns = adapter.get_columns_in_relation(ref('stg_points')) | map(attribute='name') | list if plan.incremental else [] -%}

with as_of as (
    select * from {{ ref('int_as_of') }}
),

{%- if plan.incremental %}

points as (
    select {% for c in stg_columns %}new_points.{{ c }}, {% endfor %}false as _reprocessed
    from {{ ref('stg_points') }} as new_points
    where {{ incremental_new_rows(plan, 'new_points.source_file') }}
    union all
    -- rows the load date changes: a future timestamp no more, or an accepted row now in the
    -- future (future_timestamp is the last check). One condition per branch: an OR of them
    -- would make the engine read every stored row.
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    cross join as_of
    where previous.rejection_reason = 'future_timestamp'
        and not cast(previous.occurred_at as date) > as_of.load_date
    union all
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    cross join as_of
    where cast(previous.occurred_at as date) > as_of.load_date
        and previous.rejection_reason is null
),
{%- else %}

points as (
    select *, true as _reprocessed from {{ ref('stg_points') }}
),
{%- endif %}

stamp as (
    {{ incremental_stamp() }}
),

loaded_files as (
    {{ incremental_loaded_files() }}
),

undecodable as (
    {{ undecodable_rows('points') }}
),

checked as (
    select
        points.*,
        case
            when undecodable.source_row is not null then 'undecodable_text'
            when points.customer_id is null then 'missing_customer_id'
            when points.points_text is null then 'missing_points'
            when points.points is null then 'unparseable_points'
            when points.points <> round(points.points) then 'non_integer_points'
            when points.occurred_at_text is null then 'missing_occurred_at'
            when points.occurred_at is null then 'unparseable_occurred_at'
            when cast(points.occurred_at as date) > as_of.load_date then 'future_timestamp'
        end as rejection_reason,
        loaded_files.load_id as _load_id
    from points
    left join undecodable on points.source_file = undecodable.source_file and points.source_row = undecodable.source_row
    left join loaded_files on points.source_file = loaded_files.source_file
    cross join as_of
)

select checked.*, stamp.built as _built
from checked
cross join stamp
