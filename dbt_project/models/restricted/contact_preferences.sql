{#- Restricted: one row per phone (E.164) with an opt-out, opt-in or blacklist event. The latest
    opt_out / opt_in event wins (a later explicit opt-in restores the phone); a blacklist entry
    is permanent. Events on one timestamp: opt_out wins over opt_in (the cautious choice). Every
    event up to the load date counts, not only those up to as_of: an opt-out is effective at once. -#}
with events as (
    select * from {{ ref('int_opt_outs_checked') }} where rejection_reason is null
),

consent as (
    select
        e164,
        event,
        occurred_at,
        row_number() over (partition by e164 order by occurred_at desc, case when event = 'opt_out' then 0 else 1 end, source_row desc) as event_rank
    from events
    where event in ('opt_out', 'opt_in')
),

blacklist as (
    select e164, min(occurred_at) as blacklisted_at
    from events
    where event = 'blacklist'
    group by e164
),

phones as (
    select e164 from consent
    union
    select e164 from blacklist
)

select
    phones.e164,
    coalesce(consent.event = 'opt_out', false) as is_opted_out,
    blacklist.e164 is not null as is_blacklisted,
    consent.event as latest_consent_event,
    consent.occurred_at as latest_consent_event_at,
    blacklist.blacklisted_at
from phones
left join consent on phones.e164 = consent.e164 and consent.event_rank = 1
left join blacklist on phones.e164 = blacklist.e164
