{#- Models land in the schema their folder names (staging, intermediate, main, restricted),
    not "<target>_<custom>": analysts query main.customers, not main_main.customers. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
