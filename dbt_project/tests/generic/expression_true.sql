{#- Fails for every row where the expression is false: an invariant stated in the yml of the
    model it protects (dbt_utils.expression_is_true without the package). -#}
{% test laoke_expression_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
