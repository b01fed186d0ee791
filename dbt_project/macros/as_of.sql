{#- The build's reference date. Every model that depends on "today" reads as_of from
    int_as_of (one row), so replaying history is `--vars '{as_of: 2025-06-30}'` (or LAOKE_AS_OF).
    laoke passes the build dates as LAOKE_AS_OF / LAOKE_LOAD_DATE, not --vars: dbt parses the
    whole project again whenever --vars change (~2 s of every daily build), while a changed
    environment variable re-parses only the files that read it. -#}
{% macro as_of_literal() -%}
    {%- set value = var('as_of', none) or env_var('LAOKE_AS_OF', '') -%}
    {%- if value -%}cast('{{ value }}' as date){%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro load_date_literal() -%}
    {%- set value = var('load_date', none) or env_var('LAOKE_LOAD_DATE', '') -%}
    {%- if value -%}cast('{{ value }}' as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}

{#- Whole days between two dates, as an integer: the BTYD convention counts calendar days. -#}
{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}
