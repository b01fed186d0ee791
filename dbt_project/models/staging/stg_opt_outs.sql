with source as (
    select * from {{ source('raw', 'opt_outs') }}
),

reply_classes as (
    select * from {{ source('raw', 'reply_classes') }}
),

renamed as (
    select
        -- ids
        source.phone as raw_phone,
        source.customer_id,

        -- dimensions
        -- An explicit event wins; an empty event takes the reply's meaning (T -> opt_out, START -> opt_in).
        case
            when lower(source.event) in ('opt_out', 'optout', 'unsubscribe', '退订') then 'opt_out'
            when lower(source.event) in ('opt_in', 'optin', 'subscribe', '订阅') then 'opt_in'
            when lower(source.event) in ('blacklist', 'blocklist', '黑名单') then 'blacklist'
            when source.event is null then coalesce(reply_classes.reply_class, 'opt_out')
        end as event,
        source.event as event_text,
        lower(coalesce(source.source, 'unknown')) as event_source,
        source.reply_text,

        -- timestamps
        {{ parse_timestamp('source.occurred_at') }} as occurred_at,
        source.occurred_at as occurred_at_text,

        -- lineage
        source._source_file as source_file,
        source._source_row as source_row

    from source
    left join reply_classes on source.reply_text = reply_classes.reply_text
)

select * from renamed
