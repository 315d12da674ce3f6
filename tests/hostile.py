"""Hostile input shared by the guard's tests and the tests against a running worker."""

SECRET = "https://hooks.example/T0KEN-of-the-noc"
PRIVATE = ("schedules", "alert_rules", "alert_notifications", "custom_reports")
# Each form of INTO OUTFILE ({f}: the file it would write).
OUTFILE_FORMS = [
    "SELECT 'probe' INTO OUTFILE '{f}' FORMAT TSVRaw",
    "SELECT 1 INTO OUTFILE '{f}' TRUNCATE",
    "SELECT 1 INTO OUTFILE '{f}' APPEND",
    "SELECT 1 INTO OUTFILE '{f}' AND STDOUT",
    "SELECT 1 INTO OUTFILE '{f}.gz' COMPRESSION 'gzip' LEVEL 3",
    "WITH 1 AS x SELECT x INTO OUTFILE '{f}'",
    "SELECT 1 UNION ALL SELECT 2 INTO OUTFILE '{f}'",
    "SELECT * FROM (SELECT 1 INTO OUTFILE '{f}')",
    "/* a note */ select\t1\n-- more\ninto   outfile\n'{f}'",
    "(SELECT 1) INTO OUTFILE '{f}'",
    "SHOW TABLES INTO OUTFILE '{f}'",
    "DESCRIBE TABLE cdr INTO OUTFILE '{f}'",
    "EXISTS TABLE cdr INTO OUTFILE '{f}'",
    "SHOW CREATE TABLE cdr INTO OUTFILE '{f}'",
    "EXPLAIN AST SELECT 1 INTO OUTFILE '{f}'",
    "EXPLAIN SYNTAX SELECT 1 INTO OUTFILE '{f}'",
    "SET max_threads = 1 INTO OUTFILE '{f}'",
    "SELECT 1 FORMAT TSV INTO OUTFILE '{f}'",
    "SELECT 1; SELECT 2 INTO OUTFILE '{f}'",
]
# Each path to a private table ({t}; cdrflow_db: the warehouse's database).
PRIVATE_PATHS = [
    "SELECT * FROM {t}",
    "SELECT * FROM cdrflow_db.{t}",
    "SELECT count() FROM cdr WHERE customer IN (SELECT name FROM {t})",
    "SELECT 1 IN {t}",
    "WITH s AS (SELECT * FROM {t}) SELECT * FROM s",
    "SELECT * FROM cdr AS c LEFT JOIN {t} AS s ON 1 = 1 LIMIT 1",
    "SELECT * FROM merge('{t}')",
    "SELECT * FROM merge(currentDatabase(), '^{t}$')",
    "SELECT * FROM view(SELECT * FROM {t})",
    "SELECT throwIf(1, (SELECT any(toString(tuple(*))) FROM {t}))",
    "DESCRIBE (SELECT * FROM {t})",
    "EXPLAIN QUERY TREE SELECT (SELECT any(name) FROM {t})",
    "SELECT 1 UNION ALL SELECT count() FROM {t}",
    "SELECT 1 FROM numbers(1) WHERE exists(SELECT 1 FROM {t})",
    "SELECT * FROM {{x:Identifier}}",  # bound to the table's name after the parse
]
