{#- One row per customer per calendar quarter (the last quarterly_status_quarters quarters up to
    as_of's): active (季度活跃) bought in the quarter; sleeping (季度沉睡) bought before but not in
    it; potential (季度潜在) known by the quarter's end but never bought. -#}
with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
),

profiles as (
    select * from {{ ref('int_customer_profiles') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

offsets as (
    {{ integers(var('quarterly_status_quarters'), 'quarter_offset') }}
),

quarters as (
    select
        cast({{ dbt.dateadd('month', '-3 * offsets.quarter_offset', dbt.date_trunc('quarter', 'as_of.as_of_date')) }} as date) as quarter_start
    from offsets
    cross join as_of
),

bounded as (
    select
        quarter_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, 'quarter_start')) }} as date) as quarter_end
    from quarters
),

per_quarter as (
    select
        purchase_days.customer_id,
        bounded.quarter_start,
        max(case when purchase_days.purchase_date >= bounded.quarter_start then 1 else 0 end) as bought_in_quarter
    from purchase_days
    inner join bounded on purchase_days.purchase_date <= bounded.quarter_end
    group by purchase_days.customer_id, bounded.quarter_start
),

known as (
    select profiles.customer_id, bounded.quarter_start, bounded.quarter_end
    from profiles
    cross join bounded
    where cast(profiles.registered_at as date) <= bounded.quarter_end
)

select
    coalesce(per_quarter.customer_id, known.customer_id) as customer_id,
    coalesce(per_quarter.quarter_start, known.quarter_start) as quarter_start,
    case
        when per_quarter.bought_in_quarter = 1 then 'active'
        when per_quarter.bought_in_quarter = 0 then 'sleeping'
        else 'potential'
    end as quarter_status
from per_quarter
full outer join known
    on per_quarter.customer_id = known.customer_id and per_quarter.quarter_start = known.quarter_start
