{#- Accepted orders under the surviving customer id, with partial refunds netted, purchase and
    promotion flags. A purchase is a paid order whose net amount is positive, or a zero-amount
    order (free or fully discounted: still a purchase). A fully refunded order is not one. -#}
with orders as (
    select * from {{ ref('int_orders_checked') }} where rejection_reason is null
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
    select order_id, sum({{ to_money('amount') }}) as refunded_amount
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
        case
            when orders.status = 'paid' then {{ to_money('orders.amount') }} + coalesce(line_refunds.refunded_amount, 0)
            when orders.status = 'refunded' and orders.amount < 0 then {{ to_money('orders.amount') }}
            else {{ to_money('0') }}
        end as net_amount,
        {{ to_money('orders.discount_amount') }} as discount_amount,
        orders.quantity,

        -- timestamps
        orders.ordered_at,
        cast(orders.ordered_at as date) as ordered_on,

        -- lineage
        orders.source_file,
        orders.source_row

    from orders
    inner join identity on orders.customer_id = identity.customer_id
    left join line_refunds on orders.order_key = line_refunds.order_id
    left join promotion_orders on orders.order_key = promotion_orders.order_key
)

select * from resolved
