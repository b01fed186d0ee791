{#- Bookkeeping of the *_checked models that parse only the landing rows of new files
    (int_order_lines_checked, int_points_checked, int_customers_checked): one place for what
    int_orders_checked, int_orders_resolved, int_customer_purchase_days and orders each spell out.

    A model opts in with `meta: {incremental: {...}}` in its config:
      source       the raw table it parses ('order_lines'): raw.load_files tells which files are new
      upstream     optional: an incremental model whose `_built` stamps it follows
                   (int_orders_checked); the stamp it has seen is its state's seen_stamp
      rules        vars its decisions (or the parsing in staging) depend on
      fingerprint  other inputs, compared with the state as a whole: 'products' (the accepted
                   product ids of int_products_checked), 'phone_region' (the region the loader
                   classified phones with)
    and the hooks
      pre_hook="{{ incremental_clear_for_rebuild() }}",
      post_hook="{{ incremental_state_write() }}"
    Its body calls incremental_plan(): `incremental` true means "parse the rows of plan.new_files
    and decide again, from the rows already here, what they and the upstream changes touch";
    false means "parse everything" (the pre-hook has emptied the table, so delete+insert is a plain
    insert). The model's internal columns: _load_id (the load that read the row's file), _built
    (incremental_stamp()), _reprocessed (decided again from a stored row, or by a full build).

    State row (intermediate.incremental_state): seen_stamp = the upstream's max(_built) (the
    model's own without an upstream), seen_load_id = the source's max(load_id) (int_orders_resolved:
    the number of its builds, resolved_builds()), detail = the
    fingerprint of the rules, the model's own SQL and the inputs above; a change in any of them
    rebuilds in full. (A change in a macro or staging model the rows were parsed with is not
    seen: build with `--full-refresh` then.) -#}

{% macro incremental_settings() -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- set settings = meta.get('incremental') or {} -%}
    {{ return({
        'source': settings.get('source'),
        'upstream': settings.get('upstream'),
        'rules': settings.get('rules') or [],
        'fingerprint': settings.get('fingerprint') or [],
    }) }}
{%- endmacro %}

{% macro incremental_state_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier='incremental_state')) }}
{%- endmacro %}

{#- Part `position` (1-based) of an incremental_state row's `detail` (parts joined with '|'),
    cast to `type`: null when the part is missing or empty (a state written by an older version
    has fewer parts). Without a type, the text ('' when missing). -#}
{% macro state_detail_part(position, type=none) -%}
    {%- set part = dbt.split_part('detail', "'|'", position) -%}
    {%- if type is none -%}
    coalesce({{ part }}, '')
    {%- else -%}
    {{ dbt.safe_cast("nullif(" ~ part ~ ", '')", type) }}
    {%- endif -%}
{%- endmacro %}

{#- This model's row of incremental_state as a one-row query (seen_stamp, detail: null without one). -#}
{% macro own_state() -%}
    select max(seen_stamp) as seen_stamp, max(detail) as detail
    from {{ incremental_state_relation() }}
    where model = '{{ this.identifier }}'
{%- endmacro %}

{#- own_state() with its detail split: seen_stamp (named `stamp_name`) and the parts of the
    detail, `parts` = [[column name, type or none], ...] in the order they were written (see
    state_detail_part). -#}
{% macro seen_state(parts, stamp_name='seen_stamp') -%}
    select
        seen_stamp as {{ stamp_name }}
        {%- for name, type in parts %},
        {{ state_detail_part(loop.index, type) }} as {{ name }}
        {%- endfor %}
    from ({{ own_state() }}) as state
{%- endmacro %}

{#- True when int_orders_resolved (`resolved`) was rebuilt in full after `seen_stamp`, is empty,
    every row of it was written since, or none as late as what was seen (rebuilt with the
    clock set back). -#}
{% macro resolved_rebuilt_since(resolved, seen_stamp) -%}
    coalesce((select max(_built) from {{ resolved }} where _full_build) > {{ seen_stamp }}, false)
    or not exists (select 1 from {{ resolved }} where _built <= {{ seen_stamp }})
    or coalesce((select max(_built) from {{ resolved }}) < {{ seen_stamp }}, true)
{%- endmacro %}

{#- How many times int_orders_resolved has been built (its state row's seen_load_id; null before
    it counted). A model keyed by customer that reads `_previous_customer_id` of the orders
    resolved since its last build sees every id an order had only when it missed no build of
    int_orders_resolved: _previous_customer_id keeps the id before the latest build only (a
    partial `dbt build --select`, or downstream models skipped after a failed test, can leave a
    merged order's first customer behind). Such a model rebuilds in full when the count moved
    by more than one. -#}
{% macro resolved_builds() -%}
    (select max(seen_load_id) from {{ incremental_state_relation() }} where model = 'int_orders_resolved')
{%- endmacro %}

{% macro incremental_load_files() -%}
    {{ return(adapter.get_relation(target.database, 'raw', 'load_files')) }}
{%- endmacro %}

{#- on-run-start (dbt_project.yml): the state table every incremental model shares, created once
    before any model runs. Created by the models' own pre-hooks, two models running at once would
    both create it on a first build, which DuckDB refuses (a catalog write-write conflict). -#}
{% macro incremental_state_ddl() -%}
{%- do adapter.create_schema(incremental_state_relation().without_identifier()) -%}
create table if not exists {{ incremental_state_relation() }} (
    model {{ dbt.type_string() }},
    seen_stamp {{ dbt.type_timestamp() }},
    seen_load_id {{ dbt.type_bigint() }},
    detail {{ dbt.type_string() }},
    built_at {{ dbt.type_timestamp() }}
)
{%- endmacro %}

{#- One string expression: what the model's decisions depend on besides its own rows and the
    upstream stamps. A change means a full rebuild. -#}
{% macro incremental_fingerprint() -%}
    {%- set settings = incremental_settings() -%}
    {%- set rules = {'code': local_md5(model.raw_code)} -%}
    {%- for name in settings.rules -%}
        {%- do rules.update({name: var(name, none)}) -%}
    {%- endfor -%}
    {%- set parts = ["'rules " ~ local_md5(tojson(rules, sort_keys=true)) ~ "'"] -%}
    {%- if 'products' in settings.fingerprint -%}
        {#- what int_order_lines_checked reads of products: is there any row, which ids exist, which are accepted -#}
        {%- set product_list = dbt.listagg(dbt.concat(['product_id', "':'", dbt.safe_cast('accepted', dbt.type_string())]), "','", 'order by product_id') -%}
        {%- do parts.append("'; products '") -%}
        {%- do parts.append("(select " ~ dbt.hash(dbt.concat([
                dbt.safe_cast("(select count(*) from " ~ ref('int_products_checked') ~ ")", dbt.type_string()), "'|'",
                "coalesce(" ~ product_list ~ ", '')"])) ~ "
            from (
                select product_id, max(case when rejection_reason is null then 1 else 0 end) as accepted
                from " ~ ref('int_products_checked') ~ "
                where product_id is not null
                group by product_id
            ) as products)") -%}
    {%- endif -%}
    {%- if 'phone_region' in settings.fingerprint -%}
        {#- raw.phone_numbers is classified again (every text) only when the region changes or on a
            full load (which reloads every table, so every file gets a new load id) -#}
        {%- set files = incremental_load_files() -%}
        {%- do parts.append("'; phone region '") -%}
        {%- if files is not none -%}
            {%- do parts.append("(select coalesce(min(phone_region), '') from " ~ files ~ " where table_name = '" ~ settings.source ~ "')") -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(dbt.concat(parts) if parts | length > 1 else parts[0]) }}
{%- endmacro %}

{#- What this build parses. Decided when the model is compiled (a literal list of files lets the
    engine filter raw rows before parsing) and again, identically, by the pre-hook. Returns
    {incremental, new_files, seen_stamp (a SQL timestamp literal, or none), reason}. -#}
{% macro incremental_plan() -%}
    {%- set settings = incremental_settings() -%}
    {%- set plan = {'incremental': false, 'new_files': [], 'seen_stamp': none, 'reason': 'not incremental'} -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set files = incremental_load_files() -%}
    {%- set state = adapter.get_relation(this.database, 'intermediate', 'incremental_state') -%}
    {%- set own_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if files is none or state is none or '_load_id' not in own_columns or '_built' not in own_columns -%}
        {%- do plan.update({'reason': 'no state'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set upstream = ref(settings.upstream) if settings.upstream else none -%}
    {%- if upstream is not none and '_built' not in (adapter.get_columns_in_relation(upstream) | map(attribute='name') | list) -%}
        {%- do plan.update({'reason': 'upstream not incremental'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set decision -%}
        with state as (
            select count(*) as rows_, max(seen_load_id) as seen_load_id, max(seen_stamp) as seen_stamp, max(detail) as detail
            from {{ state }}
            where model = '{{ this.identifier }}'
        )
        select
            state.rows_,
            coalesce(state.seen_load_id, 0) as seen_load_id,
            state.seen_stamp,
            case when state.detail = {{ incremental_fingerprint() }} then 1 else 0 end as same_inputs,
            -- rows of files reloaded or removed since
            (select count(*) from (select distinct _load_id from {{ this }}) as built
             where built._load_id is null
                or built._load_id not in (select load_id from {{ files }} where table_name = '{{ settings.source }}')) as unloaded,
            {%- if upstream is not none %}
            -- the upstream rebuilt in full since (every row stamped after what was seen), or empty
            (select case when count(*) = 0 or min(_built) > state.seen_stamp or max(_built) < state.seen_stamp then 1 else 0 end
             from {{ upstream }}) as upstream_rebuilt
            {%- else %}
            0 as upstream_rebuilt
            {%- endif %}
        from state
    {%- endset -%}
    {%- set row = run_query(decision).rows[0] -%}
    {%- if row[0] == 0 -%}
        {%- do plan.update({'reason': 'no state'}) -%}
    {%- elif upstream is not none and row[2] is none -%}
        {%- do plan.update({'reason': 'no upstream stamp'}) -%}
    {%- elif row[3] != 1 -%}
        {%- do plan.update({'reason': 'rules or inputs changed'}) -%}
    {%- elif row[4] != 0 -%}
        {%- do plan.update({'reason': 'landing files reloaded or removed'}) -%}
    {%- elif row[5] != 0 -%}
        {%- do plan.update({'reason': settings.upstream ~ ' rebuilt'}) -%}
    {%- else -%}
        {%- set new_files = run_query("select source_file from " ~ files ~ " where table_name = '" ~ settings.source
                                      ~ "' and load_id > " ~ row[1] ~ " order by source_file").columns[0].values() -%}
        {%- do plan.update({
            'incremental': true,
            'new_files': new_files | list,
            'seen_stamp': "cast('" ~ row[2] ~ "' as " ~ dbt.type_timestamp() ~ ")" if row[2] is not none else none,
            'reason': (new_files | length) ~ ' new files',
        }) -%}
    {%- endif -%}
    {{ log(this.identifier ~ ': ' ~ plan.reason ~ (' (incremental)' if plan.incremental else ' (full rebuild)'), info=false) }}
    {{ return(plan) }}
{%- endmacro %}

{#- A filter on source_file: the rows of the plan's new files. -#}
{% macro incremental_new_rows(plan, source_file='source_file') -%}
    {%- if plan.new_files -%}
        {{ source_file }} in ({% for f in plan.new_files %}'{{ f | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: a build that parses everything but keeps the table (an incremental run that must
    rebuild) empties it first, so rows of files that are gone go too and delete+insert deletes
    nothing. Same decision as the model's compile-time plan: nothing changed in between. -#}
{% macro incremental_clear_for_rebuild() -%}
    {%- if execute and is_incremental() and not incremental_plan().incremental -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The load id of each source file, to stamp rows with the load that read them. -#}
{% macro incremental_loaded_files() -%}
    {%- set settings = incremental_settings() -%}
    {%- set files = incremental_load_files() if execute else none -%}
    {%- if files is not none -%}
    select source_file, load_id from {{ files }} where table_name = '{{ settings.source }}'
    {%- else -%}
    select cast(null as {{ dbt.type_string() }}) as source_file, cast(null as {{ dbt.type_bigint() }}) as load_id where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- One row, column `built`: this build's stamp, later than every stamp of this model and every
    stamp a model has seen (stamps only grow, even if the clock goes back). -#}
{% macro incremental_stamp() -%}
    {%- set run_stamp = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- if is_incremental() -%}
    select {{ growing_stamp(['(select max(_built) from ' ~ this ~ ')']) }} as built
    {%- else -%}
    select {{ run_stamp }} as built
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: what this build has seen. -#}
{% macro incremental_state_write() -%}
    {%- set settings = incremental_settings() -%}
    {%- set files = incremental_load_files() -%}
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref(settings.upstream) if settings.upstream else this }}),
    {% if files is not none -%}
    (select max(load_id) from {{ files }} where table_name = '{{ settings.source }}'),
    {%- else -%}
    cast(null as {{ dbt.type_bigint() }}),
    {%- endif %}
    {{ incremental_fingerprint() }},
    {{ dbt.current_timestamp() }}
{%- endmacro %}

{#- A scalar subquery: a hash of the model's code, the values of the rule vars it reads and the
    given columns of the accepted products. Stored in a model's state; a change means a full
    rebuild (a new price or category changes the lines of every order, a new price ratio the
    candidates of every customer). -#}
{% macro products_fingerprint(columns, rules=[]) -%}
    {%- set code = {'code': local_md5(model.raw_code)} -%}
    {%- for name in rules -%}
        {%- do code.update({name: var(name, none)}) -%}
    {%- endfor -%}
    {%- set fields = [] -%}
    {%- for column in columns -%}
        {%- do fields.append("coalesce(" ~ dbt.safe_cast(column, dbt.type_string()) ~ ", '~')") -%}
        {%- if not loop.last %}{% do fields.append("'/'") %}{% endif -%}
    {%- endfor -%}
    (select {{ dbt.hash(dbt.concat([
            "'" ~ local_md5(tojson(code, sort_keys=true)) ~ "'", "';'",
            "coalesce(" ~ dbt.listagg(dbt.concat(fields), "';'", 'order by product_id') ~ ", '')"])) }}
     from {{ ref('int_products_checked') }}
     where rejection_reason is null)
{%- endmacro %}

{#- intermediate.<model>__<suffix>: a model's plan tables (dropped by its post-hook) and change log. -#}
{% macro scratch_relation(suffix, model_name=none) -%}
    {{ return(api.Relation.create(database=this.database, schema='intermediate',
                                  identifier=(model_name or this.identifier) ~ '__' ~ suffix)) }}
{%- endmacro %}

{#- The change log of an order-scoped model with `changes` (customer_id, changed_at), created by
    the model's hooks on every build (full or not), so its readers never create it. -#}
{% macro changes_ddl(model_name=none) -%}
create table if not exists {{ scratch_relation('changes', model_name) }} (
    customer_id {{ dbt.type_string() }}, changed_at {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A stamp later than every stamp a model of this warehouse has seen (stamps only grow, even if
    the clock goes back), and later than `also` (SQL timestamps) when given. -#}
{% macro growing_stamp(also=[]) -%}
    {%- set run_stamp = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
    greatest(
        {{ run_stamp }},
        coalesce((select {{ dbt.dateadd('microsecond', 1, 'max(seen_stamp)') }} from {{ incremental_state_relation() }}), {{ run_stamp }})
        {%- for stamp in also %},
        coalesce({{ dbt.dateadd('microsecond', 1, stamp) }}, {{ run_stamp }})
        {%- endfor %}
    )
{%- endmacro %}

{#- Customer-scoped incremental marts (cross_sell_candidates, upsell_candidates, ...): each
    customer's rows are a function of that customer's int_purchased_lines, the products, the rule
    vars the model reads and, at most, the best sellers, which the model's fingerprint covers. A
    build recomputes the customers whose purchased lines changed since its last build: rows
    int_purchased_lines wrote since (`_built`) and the customers it took lines away from
    (int_purchased_lines__changes: an order merged into another customer, a line rejected, an
    as_of moved back). It rebuilds everything when int_purchased_lines was rebuilt in full, when
    the fingerprint changed, without state, or on `--full-refresh`.

    A model opts in with
      meta={'customer_scope': {'products': [product columns it reads], 'rules': [vars it reads],
                               'best_sellers': true|false}},
      materialized='incremental', incremental_strategy='append',
      pre_hook="{{ customer_scope_plan() }}",
      post_hook="{{ customer_scope_finish() }}"
    and filters its reads of int_purchased_lines with customer_scope_filter('lines.customer_id').
    `best_sellers`: the rows name each category's best seller (a store-wide fact): a new best
    seller anywhere rebuilds everything. -#}
{% macro customer_scope_fingerprint() -%}
    {%- set settings = (config.get('meta') or {}).get('customer_scope') or {} -%}
    {%- set parts = [products_fingerprint(['product_id'] + (settings.get('products') or []), settings.get('rules') or [])] -%}
    {%- if settings.get('best_sellers') -%}
        {%- do parts.append("'|'") -%}
        {%- do parts.append("coalesce(" ~ best_sellers_fingerprint() ~ ", '')") -%}
    {%- endif -%}
    {{ return(dbt.concat(parts) if parts | length > 1 else parts[0]) }}
{%- endmacro %}

{#- Pre-hook: decide, list the customers to recompute, delete their rows. -#}
{% macro customer_scope_plan() -%}
{%- if execute and is_incremental() -%}
{%- set lines = ref('int_purchased_lines') -%}
{%- set changes = scratch_relation('changes', lines.identifier) -%}
{%- set comparable = '_built' in (adapter.get_columns_in_relation(lines) | map(attribute='name') | list) -%}
{#- (int_purchased_lines creates its change log on every build: the marts, running in parallel,
    would conflict creating it) -#}
create or replace table {{ scratch_relation('plan') }} as
with state as (
    {{ own_state() }}
)
select
    state.seen_stamp,
    {% if comparable -%}
    state.seen_stamp is null
    or state.detail is null
    or state.detail <> {{ customer_scope_fingerprint() }}
    -- int_purchased_lines rebuilt in full since (every line written after what was seen), or empty
    or coalesce((select min(_built) from {{ lines }}) > state.seen_stamp, true)
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from state;

create or replace table {{ scratch_relation('customers') }} as
{% if comparable -%}
select lines.customer_id
from {{ lines }} as lines
cross join {{ scratch_relation('plan') }} as plan
where lines._built > plan.seen_stamp
union
select changes.customer_id
from {{ changes }} as changes
cross join {{ scratch_relation('plan') }} as plan
where changes.changed_at > plan.seen_stamp
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as customer_id where 1 = 0
{%- endif %};

delete from {{ this }}
where (select full_rebuild from {{ scratch_relation('plan') }})
    or customer_id in (select customer_id from {{ scratch_relation('customers') }})
{%- endif -%}
{%- endmacro %}

{#- In a model's body: true for the rows this build recomputes — all of them in a full rebuild,
    else those whose `column` is in the plan's key table (intermediate.<model>__<keys>). -#}
{% macro plan_filter(column, keys, key_column) -%}
    {%- if is_incremental() -%}
    ((select full_rebuild from {{ scratch_relation('plan') }})
        or {{ column }} in (select {{ key_column }} from {{ scratch_relation(keys) }}))
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- In the model's body: true for the rows of the customers this build recomputes. -#}
{% macro customer_scope_filter(column) -%}
    {{ return(plan_filter(column, 'customers', 'customer_id')) }}
{%- endmacro %}

{#- Post-hook: what this build has seen (int_purchased_lines' newest write or change). -#}
{% macro customer_scope_finish() -%}
{%- set lines = ref('int_purchased_lines') -%}
{%- set changes = scratch_relation('changes', lines.identifier) -%}
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    greatest(
        coalesce((select max(_built) from {{ lines }}), (select max(changed_at) from {{ changes }})),
        coalesce((select max(changed_at) from {{ changes }}), (select max(_built) from {{ lines }}))),
    cast(null as {{ dbt.type_bigint() }}),
    {{ customer_scope_fingerprint() }},
    {{ dbt.current_timestamp() }};
drop table if exists {{ scratch_relation('plan') }};
drop table if exists {{ scratch_relation('customers') }}
{%- endmacro %}

{#- Order-keyed incremental models (orders, int_purchased_lines): one row set per order of
    int_orders_resolved placed on or before as_of. A build recomputes the orders
    int_orders_resolved resolved since its last build (a new order, a merge that moved it to
    another customer, changed refund lines) and those that entered the as_of window; with
    `lines`, also the orders with a line int_order_lines_checked decided since. Rows after as_of
    are removed. It rebuilds everything when int_orders_resolved (or, with `lines`,
    int_order_lines_checked) was rebuilt in full since, when the model's code or (with
    `products`) the listed columns of the accepted products changed, without state, or on
    `--full-refresh`. With `changes`, the customers whose rows a build takes away are appended
    to intermediate.<model>__changes (customer_id, changed_at), for the customer-scoped marts,
    and the model's rows carry `_built` (plan_stamp(): stamps only grow).

    A model opts in with
      meta={'order_scope': {'lines': true|false, 'products': [columns], 'changes': true|false}},
      materialized='incremental', incremental_strategy='append',
      pre_hook="{{ order_scope_plan() }}",
      post_hook="{{ order_scope_finish() }}"
    and filters its reads of int_orders_resolved (and lines) with order_scope_filter(column).
    State: seen_stamp = int_orders_resolved's max(_built); detail = as_of | the lines' max(_built)
    | fingerprint. -#}
{% macro order_scope_settings() -%}
    {%- set settings = (config.get('meta') or {}).get('order_scope') or {} -%}
    {{ return({'lines': settings.get('lines', false), 'products': settings.get('products') or [],
               'changes': settings.get('changes', false)}) }}
{%- endmacro %}

{% macro order_scope_fingerprint() -%}
    {%- set settings = order_scope_settings() -%}
    {%- if settings.products -%}
        {{ return(products_fingerprint(['product_id'] + settings.products)) }}
    {%- endif -%}
    {{ return("'" ~ local_md5(model.raw_code) ~ "'") }}
{%- endmacro %}

{#- The models that read this model's change log: those with a customer scope in the project. -#}
{% macro changes_readers() -%}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
            {%- if ((node.config.meta or {}).get('customer_scope')) is not none -%}
                {%- do names.append(node.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names | sort) }}
{%- endmacro %}

{#- In the body of a model whose pre-hook writes a plan table with `stamp` (order, person and
    survivor scopes): this build's `_built` (decided once, by the pre-hook, when incremental). -#}
{% macro plan_stamp() -%}
    {%- if is_incremental() -%}
    (select stamp from {{ scratch_relation('plan') }})
    {%- else -%}
    {{ growing_stamp() }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: decide, list the orders to recompute, (log and) delete their rows and the rows
    after as_of. -#}
{% macro order_scope_plan() -%}
{%- if execute and is_incremental() -%}
{%- set settings = order_scope_settings() -%}
{%- set resolved = ref('int_orders_resolved') -%}
{%- set plan = scratch_relation('plan') -%}
{%- set keys = scratch_relation('plan_keys') -%}
{%- set as_of = '(select as_of_date from ' ~ ref('int_as_of') ~ ')' -%}
{%- set resolved_columns = adapter.get_columns_in_relation(resolved) | map(attribute='name') | list -%}
{%- set comparable = '_built' in resolved_columns and '_full_build' in resolved_columns -%}
{%- if settings.lines -%}
    {%- set lines = ref('int_order_lines_checked') -%}
    {%- set comparable = comparable and '_built' in (adapter.get_columns_in_relation(lines) | map(attribute='name') | list) -%}
{%- endif -%}
{%- set own_stamps = [] -%}
{%- if settings.changes -%}
    {%- set own_built = '_built' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
    {%- set comparable = comparable and own_built -%}
    {%- if own_built %}{% do own_stamps.append('(select max(_built) from ' ~ this ~ ')') %}{% endif -%}
    {%- do own_stamps.append('(select max(changed_at) from ' ~ scratch_relation('changes') ~ ')') -%}
{{ changes_ddl() }};
{% endif -%}
create or replace table {{ plan }} as
with seen as (
    {{ seen_state([['previous_as_of', 'date'], ['lines_seen_stamp', dbt.type_timestamp()], ['fingerprint', none]]) }}
)

select
    seen.seen_stamp,
    seen.previous_as_of,
    seen.lines_seen_stamp,
    {{ growing_stamp(own_stamps) }} as stamp,
    {% if comparable -%}
    seen.seen_stamp is null
    or seen.previous_as_of is null
    or seen.fingerprint <> {{ order_scope_fingerprint() }}
    -- int_orders_resolved rebuilt in full since, or empty, or every row of it written since
    or {{ resolved_rebuilt_since(resolved, 'seen.seen_stamp') }}
    {%- if settings.lines %}
    or seen.lines_seen_stamp is null
    -- int_order_lines_checked rebuilt in full since (every line stamped after what was seen), or empty
    or coalesce((select min(_built) from {{ lines }}) > seen.lines_seen_stamp, true)
    {%- endif %}
    {%- else -%}
    true
    {%- endif %} as full_rebuild
from seen;

create or replace table {{ keys }} as
{% if comparable -%}
select resolved.order_key
from {{ resolved }} as resolved
cross join {{ plan }} as plan
cross join {{ ref('int_as_of') }} as as_of
where resolved._built > plan.seen_stamp
    or (resolved.ordered_on > plan.previous_as_of and resolved.ordered_on <= as_of.as_of_date)
{%- if settings.lines %}
union
select lines.order_id
from {{ lines }} as lines
cross join {{ plan }} as plan
where lines._built > plan.lines_seen_stamp and lines.order_id is not null
{%- endif %}
{%- else -%}
select cast(null as {{ dbt.type_string() }}) as order_key where 1 = 0
{%- endif %};
{%- if settings.changes %}

delete from {{ scratch_relation('changes') }} where (select full_rebuild from {{ plan }});
{%- set readers = changes_readers() %}
{%- if readers %}
-- what every customer-scoped model has seen already (one never built rebuilds in full anyway)
delete from {{ scratch_relation('changes') }}
where changed_at <= (
    select min(seen_stamp) from {{ incremental_state_relation() }}
    where model in ({% for name in readers %}'{{ name }}'{% if not loop.last %}, {% endif %}{% endfor %})
);
{%- endif %}
-- the customers of the rows recomputed or after as_of (an as_of moved back takes them away)
insert into {{ scratch_relation('changes') }} (customer_id, changed_at)
select distinct customer_id, (select stamp from {{ plan }})
from {{ this }}
where not (select full_rebuild from {{ plan }})
    and (order_key in (select order_key from {{ keys }}) or ordered_on > {{ as_of }});
{%- endif %}

delete from {{ this }}
where (select full_rebuild from {{ plan }})
    or order_key in (select order_key from {{ keys }})
    or ordered_on > {{ as_of }}
{%- endif -%}
{%- endmacro %}

{#- In the model's body: true for the rows of the orders this build recomputes. -#}
{% macro order_scope_filter(column) -%}
    {{ return(plan_filter(column, 'plan_keys', 'order_key')) }}
{%- endmacro %}

{#- Post-hook: write what this build has seen. -#}
{% macro order_scope_finish() -%}
{%- set settings = order_scope_settings() -%}
{%- if settings.changes -%}
{{ changes_ddl() }};
{% endif -%}
delete from {{ incremental_state_relation() }} where model = '{{ this.identifier }}';
insert into {{ incremental_state_relation() }} (model, seen_stamp, seen_load_id, detail, built_at)
select
    '{{ this.identifier }}',
    (select max(_built) from {{ ref('int_orders_resolved') }}),
    cast(null as {{ dbt.type_bigint() }}),
    {{ dbt.concat([
        dbt.safe_cast('(select as_of_date from ' ~ ref('int_as_of') ~ ')', dbt.type_string()), "'|'",
        ("coalesce(" ~ dbt.safe_cast('(select max(_built) from ' ~ ref('int_order_lines_checked') ~ ')', dbt.type_string()) ~ ", '')")
            if settings.lines else "''", "'|'",
        order_scope_fingerprint()]) }},
    {{ dbt.current_timestamp() }};
drop table if exists {{ scratch_relation('plan') }};
drop table if exists {{ scratch_relation('plan_keys') }}
{%- endmacro %}
