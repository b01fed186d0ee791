{#- One row per customer per as_of that was built: building a new as_of adds its snapshot,
    rebuilding an as_of replaces its snapshot whole (a customer gone since, e.g. merged, leaves
    it). The history is what earlier builds decided, not derivable from today's landing files,
    so `--full-refresh` keeps it (full_refresh=false) and replaces only the current as_of's
    snapshot; to start the history over, drop the table: `drop table main.customer_lifecycle_history`. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date in (select as_of_date from {{ ref('customer_lifecycle') }}){% endif %}"
) }}

select
    as_of_date,
    customer_id,
    lifecycle_status,
    purchase_count_band,
    status_since,
    purchase_orders,
    days_since_last_purchase,
    last_purchase_date
from {{ ref('customer_lifecycle') }}
