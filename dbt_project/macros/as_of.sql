{#- The build's reference date. Every model that depends on "today" reads as_of from
    int_as_of (one row), so replaying history is `--vars '{as_of: 2025-06-30}'`. -#}
{% macro as_of_literal() -%}
    {%- if var('as_of', none) -%}cast('{{ var("as_of") }}' as date){%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro load_date_literal() -%}
    {%- if var('load_date', none) -%}cast('{{ var("load_date") }}' as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}

{#- Whole days between two dates, as an integer: the BTYD convention counts calendar days. -#}
{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}
