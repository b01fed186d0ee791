{#- Every order row with the first reason it cannot be used (null = accepted). Refund rows
    (status refunded, negative amount) are accepted: they are not purchases but reduce spend. -#}
with orders as (
    select * from {{ ref('stg_orders') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

undecodable as (
    {{ undecodable_rows('orders') }}
),

numbered as (
    select
        orders.*,
        row_number() over (partition by orders.order_key order by orders.source_row) as order_key_occurrence,
        undecodable.source_row is not null as has_undecodable_text
    from orders
    left join undecodable
        on orders.source_file = undecodable.source_file and orders.source_row = undecodable.source_row
),

checked as (
    select
        numbered.*,
        case
            when has_undecodable_text then 'undecodable_text'
            when customer_id is null then 'missing_customer_id'
            when ordered_at_text is null then 'missing_ordered_at'
            when ordered_at is null then 'unparseable_ordered_at'
            when cast(ordered_at as date) > as_of.load_date then 'future_timestamp'
            when amount_text is null then 'missing_amount'
            when amount is null then 'unparseable_amount'
            -- Optional numbers that are present but not numbers: the row is misaligned or
            -- hand-edited; rejected with a reason rather than read as the default (1 item, no discount).
            when quantity_text is not null and {{ parse_number('quantity_text') }} is null then 'unparseable_quantity'
            when discount_amount_text is not null and {{ parse_number('discount_amount_text') }} is null then 'unparseable_discount_amount'
            when status is null then 'unknown_status'
            when status = 'test' then 'test_order'
            when amount < 0 and status <> 'refunded' then 'negative_amount_not_refund'
            when abs(amount) > {{ var('max_order_amount') }} then 'absurd_amount'
            when order_key_occurrence > 1 then 'duplicate_order_id'
        end as rejection_reason
    from numbered
    cross join as_of
)

select * from checked
