{#- Nothing is lost between the landing files and the warehouse: for every landing file, the
    rows the loader read (raw.load_audit.rows_in) are the rows its *_checked model accepted plus
    the rows it rejected plus the records rejected at load (raw.load_rejects, except the two
    flags that mark a loaded row: undecodable_text, nul_byte). And every row the checked models
    hold comes from a file in the audit. Returns the files that do not reconcile. -#}
{%- set checked = [
    ('orders', 'int_orders_checked'),
    ('order_lines', 'int_order_lines_checked'),
    ('customers', 'int_customers_checked'),
    ('products', 'int_products_checked'),
    ('opt_outs', 'int_opt_outs_checked'),
    ('points', 'int_points_checked'),
] -%}
with audit as (
    select table_name, source_file, rows_in, rows_loaded, rows_rejected
    from {{ source('raw', 'load_audit') }}
),

checked as (
    {%- for table_name, model in checked %}
    select
        '{{ table_name }}' as table_name,
        source_file,
        sum(case when rejection_reason is null then 1 else 0 end) as rows_accepted,
        sum(case when rejection_reason is not null then 1 else 0 end) as rows_rejected_in_models
    from {{ ref(model) }}
    group by source_file
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

rejected_at_load as (
    select table_name, source_file, count(*) as rows_rejected_at_load
    from {{ source('raw', 'load_rejects') }}
    where reason not in ('undecodable_text', 'nul_byte')
    group by table_name, source_file
),

reconciled as (
    select
        coalesce(audit.table_name, checked.table_name, rejected_at_load.table_name) as table_name,
        coalesce(audit.source_file, checked.source_file, rejected_at_load.source_file) as source_file,
        coalesce(audit.rows_in, 0) as rows_in,
        coalesce(audit.rows_loaded, 0) as rows_loaded,
        coalesce(audit.rows_rejected, 0) as rows_rejected,
        coalesce(checked.rows_accepted, 0) as rows_accepted,
        coalesce(checked.rows_rejected_in_models, 0) as rows_rejected_in_models,
        coalesce(rejected_at_load.rows_rejected_at_load, 0) as rows_rejected_at_load
    from audit
    full outer join checked
        on audit.table_name = checked.table_name and audit.source_file = checked.source_file
    full outer join rejected_at_load
        on coalesce(audit.table_name, checked.table_name) = rejected_at_load.table_name
        and coalesce(audit.source_file, checked.source_file) = rejected_at_load.source_file
)

select *
from reconciled
where rows_in <> rows_accepted + rows_rejected_in_models + rows_rejected_at_load
    or rows_loaded <> rows_accepted + rows_rejected_in_models
    or rows_rejected <> rows_rejected_at_load
