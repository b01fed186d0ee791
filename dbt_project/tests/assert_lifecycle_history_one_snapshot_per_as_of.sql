{#- customer_lifecycle_history holds one row per customer per as_of: the snapshot a build writes
    replaces the one an earlier build wrote for the same as_of. Checked on the as_of just built
    (earlier snapshots were checked when they were written; the whole history grows with every
    day). -#}
select history.as_of_date, history.customer_id, count(*) as rows_in_snapshot
from {{ ref('customer_lifecycle_history') }} as history
where history.as_of_date in (select as_of_date from {{ ref('customer_lifecycle') }})
group by history.as_of_date, history.customer_id
having count(*) > 1
