{#- Accepted orders under the surviving customer id, with partial refunds netted, purchase and
    promotion flags. A purchase is a paid order whose net amount is positive, or a zero-amount
    order (free or fully discounted: still a purchase). A fully refunded order is not one.

    Incremental (keyed by order_key): a build resolves again only
    - the accepted rows int_orders_checked decided since this model's last build (new orders);
    - the orders whose surviving customer id changed (a later file merged two customers, or a
      merge was undone): _previous_customer_id keeps the id the order had, so
      int_customer_purchase_days recomputes both customers' days;
    - the orders whose refund lines changed (a refund line for an old order in a new file).
    It rebuilds everything (_full_build) when an order accepted before is now rejected or gone
    (its landing file reloaded, a duplicate id in a file that sorts earlier, a load date moved
    back), when the promotion calendar changed, when there is no state, or on `--full-refresh`.
    The plan is made by the pre-hooks (tables <model>__plan, <model>__plan_keys, dropped at the
    end), so the deletes it implies happen in the model's transaction. -#}
{%- set plan -%}{% raw -%}
{%- if is_incremental() -%}
{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}
{%- set own_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
{%- set upstream_columns = adapter.get_columns_in_relation(ref('int_orders_checked')) | map(attribute='name') | list -%}
{%- set comparable = '_built' in own_columns and '_previous_customer_id' in own_columns and '_built' in upstream_columns and '_reprocessed' in upstream_columns -%}
create or replace table {{ plan_relation }} as
with state as (
    select max(seen_stamp) as seen_stamp, max(detail) as calendar_fingerprint
    from "{{ this.database }}"."intermediate"."incremental_state"
    where model = '{{ this.identifier }}'
),
calendar as (
    select md5(coalesce(string_agg(event_id || '|' || cast(starts_on as varchar) || '|' || cast(ends_on as varchar), ';' order by event_id, starts_on, ends_on), '')) as fingerprint
    from {{ ref('promotion_calendar') }}
)
select
    state.seen_stamp,
    {% if comparable -%}
    state.seen_stamp is null
    or state.calendar_fingerprint is distinct from calendar.fingerprint
    -- an order accepted before (its row is here) decided again and now rejected
    or exists (
        select 1
        from {{ ref('int_orders_checked') }} as checked
        inner join {{ this }} as resolved
            on resolved.source_file = checked.source_file and resolved.source_row = checked.source_row
        where checked._built > state.seen_stamp and checked._reprocessed and checked.rejection_reason is not null
    )
    -- int_orders_checked rebuilt in full (a landing file reloaded or removed, a full refresh):
    -- orders may be gone
    or not exists (
        select 1 from {{ ref('int_orders_checked') }} as checked where checked._built <= state.seen_stamp
    )
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from state
cross join calendar;

create or replace table {{ keys_relation }} as
{% if comparable -%}
with plan as (
    select * from {{ plan_relation }}
),
identity as (
    select * from {{ ref('int_customer_identity') }}
),
current_refunds as (
    select order_id as order_key, {{ to_money('sum(' ~ to_money('amount') ~ ')') }} as refunded_amount
    from {{ ref('int_order_lines_checked') }}
    where rejection_reason is null and amount < 0
    group by order_id
),
built_refunds as (
    select order_key, refunded_amount from {{ this }} where refunded_amount <> 0
)
-- newly merged ids (or a merged id with another survivor) with orders here
select resolved.order_key
from identity
inner join {{ this }} as resolved on resolved.source_customer_id = identity.customer_id
where identity.is_merged and resolved.customer_id <> identity.survivor_customer_id
union
-- orders that were merged and are no longer (or to another survivor)
select resolved.order_key
from {{ this }} as resolved
left join identity on identity.customer_id = resolved.source_customer_id
where resolved.customer_id <> resolved.source_customer_id
    and identity.survivor_customer_id is distinct from resolved.customer_id
union
-- refund lines changed
select coalesce(current_refunds.order_key, built_refunds.order_key)
from current_refunds
full outer join built_refunds on current_refunds.order_key = built_refunds.order_key
where coalesce(current_refunds.refunded_amount, 0) <> coalesce(built_refunds.refunded_amount, 0)
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as order_key where false
{%- endif %};

delete from {{ this }} where (select full_rebuild from {{ plan_relation }})
{%- endif -%}
{%- endraw %}{%- endset -%}
{%- set finish -%}{% raw -%}
-- seen_load_id counts this model's builds (resolved_builds()): a model that reads the orders
-- resolved since its last build rebuilds in full when it missed a build of this one, because
-- _previous_customer_id only keeps the id an order had before the latest build
insert into "{{ this.database }}"."intermediate"."incremental_state"
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref('int_orders_checked') }}),
    coalesce((select max(seen_load_id) from "{{ this.database }}"."intermediate"."incremental_state" where model = '{{ this.identifier }}'), 0) + 1,
    (select md5(coalesce(string_agg(event_id || '|' || cast(starts_on as varchar) || '|' || cast(ends_on as varchar), ';' order by event_id, starts_on, ends_on), ''))
     from {{ ref('promotion_calendar') }}),
    current_timestamp;
delete from "{{ this.database }}"."intermediate"."incremental_state"
where model = '{{ this.identifier }}'
    and (seen_load_id is null
         or seen_load_id < (select max(seen_load_id) from "{{ this.database }}"."intermediate"."incremental_state" where model = '{{ this.identifier }}'));
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan";
drop table if exists "{{ this.database }}"."{{ this.schema }}"."{{ this.identifier }}__plan_keys"
{%- endraw %}{%- endset -%}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='append_new_columns',
    pre_hook=plan,
    post_hook=finish
) }}

{%- set run_stamp = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)" -%}
{%- set plan_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan"' -%}
{%- set keys_relation = '"' ~ this.database ~ '"."' ~ this.schema ~ '"."' ~ this.identifier ~ '__plan_keys"' -%}
{%- set state_relation = '"' ~ this.database ~ '"."intermediate"."incremental_state"' -%}

with orders as (
    select * from {{ ref('int_orders_checked') }} where rejection_reason is null
    {%- if is_incremental() %}
        and (
            (select full_rebuild from {{ plan_relation }})
            or _built > (select seen_stamp from {{ plan_relation }})
            or order_key in (select order_key from {{ keys_relation }})
        )
    {%- endif %}
),

lines as (
    select * from {{ ref('int_order_lines_checked') }} where rejection_reason is null
),

identity as (
    select * from {{ ref('int_customer_identity') }}
),

promotions as (
    select * from {{ ref('promotion_calendar') }}
),

line_refunds as (
    select order_id, {{ to_money('sum(' ~ to_money('amount') ~ ')') }} as refunded_amount
    from lines
    where amount < 0
    group by order_id
),

promotion_orders as (
    select orders.order_key, min(promotions.event_id) as event_id
    from orders
    inner join promotions
        on cast(orders.ordered_at as date) between promotions.starts_on and promotions.ends_on
    group by orders.order_key
),

{%- if is_incremental() %}

previous as (
    select order_key, customer_id
    from {{ this }}
    where order_key in (select order_key from orders)
),

stamp as (
    select
        greatest(
            {{ run_stamp }},
            coalesce(max(_built) + interval '1 microsecond', {{ run_stamp }}),
            coalesce((select max(seen_stamp) from {{ state_relation }}) + interval '1 microsecond', {{ run_stamp }})
        ) as built,
        (select full_rebuild from {{ plan_relation }}) as full_build
    from {{ this }}
),
{%- else %}

previous as (
    select cast(null as {{ dbt.type_string() }}) as order_key, cast(null as {{ dbt.type_string() }}) as customer_id
    where false
),

stamp as (
    select {{ run_stamp }} as built, true as full_build
),
{%- endif %}

resolved as (
    select
        -- ids
        orders.order_key,
        orders.order_id,
        identity.survivor_customer_id as customer_id,
        orders.customer_id as source_customer_id,

        -- dimensions
        orders.status,
        orders.channel,
        coalesce(orders.promotion_id, promotion_orders.event_id) as promotion_id,
        (orders.promotion_id is not null or promotion_orders.event_id is not null) as is_promotion_order,
        orders.discount_amount > 0 as is_discounted,
        orders.status = 'refunded' and orders.amount < 0 as is_refund,
        orders.status = 'paid'
            and (orders.amount = 0 or orders.amount + coalesce(line_refunds.refunded_amount, 0) > 0) as is_purchase,

        -- numerics
        {{ to_money('orders.amount') }} as gross_amount,
        coalesce(line_refunds.refunded_amount, 0) as refunded_amount,
        -- back to money_type from the wider decimal an addition gives: the many sums of net_amount
        -- downstream are ~10% faster over decimal(18, 4) than over decimal(38, 4) on DuckDB
        {{ to_money("case
            when orders.status = 'paid' then " ~ to_money('orders.amount') ~ " + coalesce(line_refunds.refunded_amount, 0)
            when orders.status = 'refunded' and orders.amount < 0 then " ~ to_money('orders.amount') ~ "
            else " ~ to_money('0') ~ "
        end") }} as net_amount,
        {{ to_money('orders.discount_amount') }} as discount_amount,
        orders.quantity,

        -- timestamps
        orders.ordered_at,
        cast(orders.ordered_at as date) as ordered_on,

        -- lineage
        orders.source_file,
        orders.source_row,

        -- incremental bookkeeping: the customer id the order had before this build resolved it
        -- again (null for a new order), when it was resolved, and whether by a full build
        previous.customer_id as _previous_customer_id,
        stamp.built as _built,
        stamp.full_build as _full_build

    from orders
    inner join identity on orders.customer_id = identity.customer_id
    left join line_refunds on orders.order_key = line_refunds.order_id
    left join promotion_orders on orders.order_key = promotion_orders.order_key
    left join previous on orders.order_key = previous.order_key
    cross join stamp
)

select * from resolved
