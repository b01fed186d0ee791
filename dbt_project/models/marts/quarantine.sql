{#- Every input row that was rejected, and every field that was cleared, with its file, line,
    key and reason: nothing leaves the pipeline without a trace here. is_row_rejected separates
    rejected rows (rows in = rows accepted + rows rejected) from rows kept with a field cleared. -#}
{%- set checked = [
    ('orders', 'int_orders_checked', 'order_key'),
    ('order_lines', 'int_order_lines_checked', 'line_key'),
    ('customers', 'int_customers_checked', 'customer_id'),
    ('products', 'int_products_checked', 'product_id'),
    ('opt_outs', 'int_opt_outs_checked', 'raw_phone'),
    ('points', 'int_points_checked', 'customer_id'),
] -%}
with load_rejects as (
    select * from {{ source('raw', 'load_rejects') }}
),

rejected as (
    {%- for table_name, model, key in checked %}
    select
        '{{ table_name }}' as source_table,
        source_file,
        source_row,
        cast({{ key }} as {{ dbt.type_string() }}) as row_key,
        rejection_reason as reason,
        cast(null as {{ dbt.type_string() }}) as field,
        true as is_row_rejected
    from {{ ref(model) }}
    where rejection_reason is not null
    union all
    {%- endfor %}
    -- records the CSV reader could not split never became rows: rejected at load
    select
        table_name as source_table,
        source_file,
        source_row,
        cast(null as {{ dbt.type_string() }}) as row_key,
        reason,
        cast(null as {{ dbt.type_string() }}) as field,
        true as is_row_rejected
    from load_rejects
    where reason not in ('undecodable_text', 'nul_byte')
),

cleared_fields as (
    select 'customers' as source_table, source_file, source_row, customer_id as row_key,
        birthday_issue as reason, 'birthday' as field, false as is_row_rejected
    from {{ ref('int_customers_checked') }}
    where rejection_reason is null and birthday_issue is not null
    union all
    select 'customers', source_file, source_row, customer_id,
        registered_at_issue, 'registered_at', false
    from {{ ref('int_customers_checked') }}
    where rejection_reason is null and registered_at_issue is not null
    union all
    select 'customers', source_file, source_row, customer_id,
        {{ dbt.concat(["'phone_'", "phone_class"]) }}, 'phone', false
    from {{ ref('int_customers_checked') }}
    where rejection_reason is null and raw_phone is not null and phone_class not in ('valid_mobile', 'virtual_operator')
    union all
    select table_name, source_file, source_row, cast(null as {{ dbt.type_string() }}),
        reason, cast(null as {{ dbt.type_string() }}), false
    from load_rejects
    where reason = 'nul_byte'
)

select * from rejected
union all
select * from cleared_fields
