{#- One row per customer per as_of that was built: rebuilding an as_of replaces its rows,
    building a new as_of adds them. `dbt build --full-refresh` starts the history over. -#}
{{ config(
    materialized='incremental',
    unique_key=['as_of_date', 'customer_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
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
