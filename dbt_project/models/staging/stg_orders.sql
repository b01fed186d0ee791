with source as (
    select * from {{ source('raw', 'orders') }}
),

renamed as (
    select
        -- ids
        -- Without an order_id, a row is its own order: identical rows stay separate purchases.
        coalesce(order_id, {{ dbt.concat(["_source_file", "':'", dbt.safe_cast("_source_row", api.Column.translate_type("string"))]) }}) as order_key,
        order_id,
        customer_id,

        -- dimensions
        lower(coalesce(status, 'paid')) as status_text,
        case
            when lower(coalesce(status, 'paid')) in ('paid', 'completed', 'complete', 'success', 'shipped', 'delivered', '已付款', '交易成功', '已完成', '已发货') then 'paid'
            when lower(status) in ('refunded', 'refund', 'returned', '退款', '已退款', '退款成功') then 'refunded'
            when lower(status) in ('cancelled', 'canceled', 'closed', '已取消', '交易关闭') then 'cancelled'
            when lower(status) in ('unpaid', 'pending', '待付款', '未付款') then 'unpaid'
            when lower(status) in ('test', '测试') then 'test'
        end as status,
        promotion_id,
        channel,

        -- numerics
        {{ parse_number('amount') }} as amount,
        amount as amount_text,
        coalesce({{ parse_number('quantity') }}, 1) as quantity,
        quantity as quantity_text,
        coalesce({{ parse_number('discount_amount') }}, 0) as discount_amount,
        discount_amount as discount_amount_text,

        -- timestamps
        {{ parse_timestamp('ordered_at') }} as ordered_at,
        ordered_at as ordered_at_text,

        -- lineage
        _source_file as source_file,
        _source_row as source_row

    from source
)

select * from renamed
