{#- Customer rows with their rejection reason (missing / duplicated id) and the field-level
    problems that clear a field but keep the row (impossible birthday, invalid phone). -#}
with customers as (
    select * from {{ ref('stg_customers') }}
),

phones as (
    select * from {{ ref('stg_phone_numbers') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

undecodable as (
    {{ undecodable_rows('customers') }}
),

joined as (
    select
        customers.*,
        phones.e164,
        phones.national_number,
        coalesce(phones.phone_class, 'missing') as phone_class,
        phones.phone_reason,
        row_number() over (partition by customers.customer_id order by customers.source_row) as customer_id_occurrence,
        undecodable.source_row is not null as has_undecodable_text
    from customers
    left join phones on customers.raw_phone = phones.raw_phone
    left join undecodable
        on customers.source_file = undecodable.source_file and customers.source_row = undecodable.source_row
),

checked as (
    select
        joined.*,
        case
            when has_undecodable_text then 'undecodable_text'
            when customer_id is null then 'missing_customer_id'
            when customer_id_occurrence > 1 then 'duplicate_customer_id'
        end as rejection_reason,
        case
            when birthday_text is not null and birthday is null then 'unparseable_birthday'
            when {{ dbt.date_trunc('day', 'birthday') }} > as_of.load_date then 'future_birthday'
            when extract(year from birthday) <= {{ var('min_birth_year') }} then 'impossible_birthday'
        end as birthday_issue,
        case
            when registered_at_text is not null and registered_at is null then 'unparseable_registered_at'
            when cast(registered_at as date) > as_of.load_date then 'future_registered_at'
        end as registered_at_issue
    from joined
    cross join as_of
)

select * from checked
