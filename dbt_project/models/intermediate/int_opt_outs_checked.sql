with opt_outs as (
    select * from {{ ref('stg_opt_outs') }}
),

undecodable as (
    {{ undecodable_rows('opt_outs') }}
),

phones as (
    select * from {{ ref('stg_phone_numbers') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

checked as (
    select
        opt_outs.*,
        phones.e164,
        case
            when undecodable.source_row is not null then 'undecodable_text'
            when opt_outs.raw_phone is null then 'missing_phone'
            when phones.e164 is null then 'unparseable_phone'
            when opt_outs.event is null then 'unknown_event'
            when opt_outs.occurred_at_text is null then 'missing_occurred_at'
            when opt_outs.occurred_at is null then 'unparseable_occurred_at'
            when cast(opt_outs.occurred_at as date) > as_of.load_date then 'future_timestamp'
        end as rejection_reason
    from opt_outs
    left join phones on opt_outs.raw_phone = phones.raw_phone
    left join undecodable on opt_outs.source_file = undecodable.source_file and opt_outs.source_row = undecodable.source_row
    cross join as_of
)

select * from checked
