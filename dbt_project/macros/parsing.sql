{#- Parsing the text that landing files hold. DuckDB gets the forgiving version (many date
    formats, epoch seconds); other engines fall back to a plain cast, and a new engine adds its
    own implementation here rather than changing models. -#}

{% macro parse_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'laoke')(expr)) }}
{%- endmacro %}

{% macro default__parse_timestamp(expr) -%}
    {{ dbt.safe_cast(expr, api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(expr) -%}
    {%- set day_first = var('day_first_dates', false) -%}
    {%- set slash_dates = ['%d/%m/%Y %H:%M:%S', '%d/%m/%Y %H:%M', '%d/%m/%Y'] if day_first
                         else ['%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M', '%m/%d/%Y'] -%}
    {%- set formats = ['%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%dT%H:%M:%S.%f',
                       '%Y-%m-%d %H:%M', '%Y-%m-%d', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d',
                       '%Y%m%d', '%Y%m%d %H:%M:%S', '%Y年%m月%d日', '%Y年%m月%d日 %H:%M', '%Y年%m月%d日 %H:%M:%S',
                       '%Y.%m.%d', '%Y.%m.%d %H:%M:%S'] + slash_dates -%}
    case
        when regexp_full_match(trim({{ expr }}), '[0-9]{9,10}')
            then to_timestamp(cast(trim({{ expr }}) as bigint)) at time zone '{{ var("store_timezone", "Asia/Shanghai") }}'
        when regexp_full_match(trim({{ expr }}), '[0-9]{13}')
            then to_timestamp(cast(trim({{ expr }}) as bigint) / 1000.0) at time zone '{{ var("store_timezone", "Asia/Shanghai") }}'
        else coalesce(
            try_strptime(trim({{ expr }}), [{% for f in formats %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor %}]),
            try_cast(trim({{ expr }}) as timestamp)
        )
    end
{%- endmacro %}

{% macro parse_number(expr) -%}
    {#- Accepts '¥1,299.00' and ' 12 ': currency signs and thousands separators are dropped. -#}
    {{ dbt.safe_cast("replace(replace(replace(trim(" ~ expr ~ "), ',', ''), '¥', ''), '￥', '')", type_double()) }}
{%- endmacro %}

{% macro parse_boolean(expr) -%}
    case
        when lower(trim({{ expr }})) in ('true', 't', '1', 'yes', 'y', '是') then true
        when lower(trim({{ expr }})) in ('false', 'f', '0', 'no', 'n', '否') then false
    end
{%- endmacro %}

{#- Money and rates are 64-bit floats (DuckDB's "float" is 32-bit, which loses cents). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'laoke')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}
