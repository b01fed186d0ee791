with points as (
    select * from {{ ref('stg_points') }}
),

undecodable as (
    {{ undecodable_rows('points') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

checked as (
    select
        points.*,
        case
            when undecodable.source_row is not null then 'undecodable_text'
            when points.customer_id is null then 'missing_customer_id'
            when points.points_text is null then 'missing_points'
            when points.points is null then 'unparseable_points'
            when points.points <> round(points.points) then 'non_integer_points'
            when points.occurred_at_text is null then 'missing_occurred_at'
            when points.occurred_at is null then 'unparseable_occurred_at'
            when cast(points.occurred_at as date) > as_of.load_date then 'future_timestamp'
        end as rejection_reason
    from points
    left join undecodable on points.source_file = undecodable.source_file and points.source_row = undecodable.source_row
    cross join as_of
)

select * from checked
