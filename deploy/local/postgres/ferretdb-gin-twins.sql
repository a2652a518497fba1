-- FerretDB 1.24 on PostgreSQL: give every MongoDB index a GIN twin, so that queries use it.
--
-- FerretDB stores a collection as a table with one jsonb column, `_jsonb`, and turns
-- `createIndexes` into a btree index on the field expressions, `((_jsonb -> 'field'))`. But it
-- pushes an equality filter `{field: value}` down to SQL as `_jsonb -> 'field' @> value`, which
-- a btree cannot serve: without help every find, update and delete reads the whole table. A GIN
-- index on the same expressions serves `@>` (also for arrays: `student_ids: "s1"`).
--
-- This event trigger watches every CREATE INDEX; for a btree on `_jsonb` expressions (FerretDB's
-- own `_id_` index included) it creates `<name>_gin` with `jsonb_path_ops` on the same
-- expressions, and drops the twin with its index. It knows only FerretDB 1.24's storage layout
-- (the `_jsonb` column); the services never see it, and production MongoDB needs none of it.
-- Installed by the local stack on every start (idempotent); tested in tests/integration.

CREATE OR REPLACE FUNCTION vestnik_gin_twin() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    created record;
    columns text[];
    twin text;
BEGIN
    FOR created IN
        SELECT c.objid, i.indrelid, i.indnatts, ic.relname AS index_name, n.nspname AS schema_name
        FROM pg_event_trigger_ddl_commands() c
        JOIN pg_index i ON i.indexrelid = c.objid
        JOIN pg_class ic ON ic.oid = c.objid
        JOIN pg_am am ON am.oid = ic.relam
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE c.command_tag = 'CREATE INDEX' AND am.amname = 'btree'
    LOOP
        columns := ARRAY(
            SELECT pg_get_indexdef(created.objid, k, true)
            FROM generate_series(1, created.indnatts) AS k
        );
        -- Only FerretDB's kind: every column an expression over the document.
        CONTINUE WHEN EXISTS (SELECT 1 FROM unnest(columns) AS col WHERE col NOT LIKE '(_jsonb %');
        twin := left(created.index_name, 59) || '_gin';
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s)',
            twin,
            created.indrelid::regclass,
            (SELECT string_agg(col || ' jsonb_path_ops', ', ') FROM unnest(columns) AS col)
        );
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION vestnik_gin_twin_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    dropped record;
BEGIN
    FOR dropped IN
        SELECT schema_name, object_name FROM pg_event_trigger_dropped_objects()
        WHERE object_type = 'index' AND original AND object_name NOT LIKE '%\_gin'
    LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I.%I', dropped.schema_name,
                       left(dropped.object_name, 59) || '_gin');
    END LOOP;
END;
$$;

DROP EVENT TRIGGER IF EXISTS vestnik_gin_twin;
CREATE EVENT TRIGGER vestnik_gin_twin ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION vestnik_gin_twin();

DROP EVENT TRIGGER IF EXISTS vestnik_gin_twin_drop;
CREATE EVENT TRIGGER vestnik_gin_twin_drop ON sql_drop
    WHEN TAG IN ('DROP INDEX') EXECUTE FUNCTION vestnik_gin_twin_drop();
