{#- The (file, line) of records whose bytes decoded in no known encoding: loaded with
    replacement characters so nothing is lost, then rejected by the *_checked model. Distinct,
    so a left join on it never multiplies a row. -#}
{% macro undecodable_rows(table_name) -%}
    select distinct source_file, source_row
    from {{ source('raw', 'load_rejects') }}
    where table_name = '{{ table_name }}' and reason = 'undecodable_text'
{%- endmacro %}
