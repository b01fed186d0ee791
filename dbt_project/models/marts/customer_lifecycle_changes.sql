{#- One row per customer whose status differs from the previous as_of built for them. -#}
with history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

with_previous as (
    select
        history.*,
        lag(as_of_date) over (partition by customer_id order by as_of_date) as previous_as_of_date,
        lag(lifecycle_status) over (partition by customer_id order by as_of_date) as previous_status
    from history
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
