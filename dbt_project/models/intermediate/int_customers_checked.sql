{#- Customer rows with their rejection reason (missing / duplicated id) and the field-level
    problems that clear a field but keep the row (impossible birthday, invalid phone).

    Incremental (keyed by source_file + source_row; bookkeeping in macros/incremental_state.sql):
    a build parses only the rows of customers files loaded since its last build and decides
    again, from the rows already parsed here, every row of
    - a customer id a new row has (which row of an id is first may change: the first occurrence
      wins, in the order of source_file then source_row);
    - a customer id one of whose rows has a birthday or registration the load date made (or
      made no more) a future date; no customer id, when such a row or a new row has none.
    Everything is parsed again when customers files were reloaded or removed, when the phones
    were classified again (another phone_region), when min_birth_year, store_timezone,
    day_first_dates or this model's code changed, without state, or on `--full-refresh`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_file', 'source_row'],
    on_schema_change='append_new_columns',
    meta={'incremental': {
        'source': 'customers',
        'rules': ['min_birth_year', 'store_timezone', 'day_first_dates'],
        'fingerprint': ['phone_region'],
    }},
    pre_hook="{{ incremental_clear_for_rebuild() }}",
    post_hook="{{ incremental_state_write() }}"
) }}

{%- set plan = incremental_plan() -%}
{%- set stg_columns = adapter.get_columns_in_relation(ref('stg_customers')) | map(attribute='name') | list if plan.incremental else [] -%}

with as_of as (
    select * from {{ ref('int_as_of') }}
),

{%- if plan.incremental %}

new_customers as (
    select * from {{ ref('stg_customers') }}
    where {{ incremental_new_rows(plan) }}
),

-- ids of new rows, and of rows whose future_birthday / future_registered_at the load date
-- changed (one condition per branch: an OR of them would make the engine read every stored row)
reevaluated_ids as (
    select customer_id from new_customers
    union
    select previous.customer_id from {{ this }} as previous cross join as_of
    where previous.birthday_issue = 'future_birthday' and not previous.birthday > as_of.load_date
    union
    select previous.customer_id from {{ this }} as previous cross join as_of
    where previous.birthday > as_of.load_date and coalesce(previous.birthday_issue, '') <> 'future_birthday'
    union
    select previous.customer_id from {{ this }} as previous cross join as_of
    where previous.registered_at_issue = 'future_registered_at' and not cast(previous.registered_at as date) > as_of.load_date
    union
    select previous.customer_id from {{ this }} as previous cross join as_of
    where cast(previous.registered_at as date) > as_of.load_date
        and coalesce(previous.registered_at_issue, '') <> 'future_registered_at'
),

customers as (
    select {% for c in stg_columns %}new_customers.{{ c }}, {% endfor %}false as _reprocessed
    from new_customers
    union all
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    where previous.customer_id in (select customer_id from reevaluated_ids)
    union all
    -- (a separate branch: an OR here would make the engine read every stored row)
    select {% for c in stg_columns %}previous.{{ c }}, {% endfor %}true as _reprocessed
    from {{ this }} as previous
    where previous.customer_id is null
        and exists (select 1 from reevaluated_ids where customer_id is null)
),
{%- else %}

customers as (
    select *, true as _reprocessed from {{ ref('stg_customers') }}
),
{%- endif %}

phones as (
    select * from {{ ref('stg_phone_numbers') }}
    {%- if plan.incremental %}
    where raw_phone in (select raw_phone from customers)
    {%- endif %}
),

stamp as (
    {{ incremental_stamp() }}
),

loaded_files as (
    {{ incremental_loaded_files() }}
),

undecodable as (
    {{ undecodable_rows('customers') }}
),

joined as (
    select
        customers.*,
        phones.e164,
        phones.national_number,
        coalesce(phones.phone_class, 'missing') as phone_class,
        phones.phone_reason,
        row_number() over (partition by customers.customer_id order by customers.source_file, customers.source_row) as customer_id_occurrence,
        undecodable.source_row is not null as has_undecodable_text,
        loaded_files.load_id as _load_id
    from customers
    left join phones on customers.raw_phone = phones.raw_phone
    left join undecodable
        on customers.source_file = undecodable.source_file and customers.source_row = undecodable.source_row
    left join loaded_files on customers.source_file = loaded_files.source_file
),

checked as (
    select
        joined.*,
        case
            when has_undecodable_text then 'undecodable_text'
            when customer_id is null then 'missing_customer_id'
            when customer_id_occurrence > 1 then 'duplicate_customer_id'
        end as rejection_reason,
        case
            when birthday_text is not null and birthday is null then 'unparseable_birthday'
            when {{ dbt.date_trunc('day', 'birthday') }} > as_of.load_date then 'future_birthday'
            when extract(year from birthday) <= {{ var('min_birth_year') }} then 'impossible_birthday'
        end as birthday_issue,
        case
            when registered_at_text is not null and registered_at is null then 'unparseable_registered_at'
            when cast(registered_at as date) > as_of.load_date then 'future_registered_at'
        end as registered_at_issue
    from joined
    cross join as_of
)

select checked.*, stamp.built as _built
from checked
cross join stamp
