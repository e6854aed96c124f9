"""The MariaDB engine: sources and restore sinks (run the client tool, stream its output,
watch its stderr), the throwaway server (:mod:`dbseal.engines.mariadb.sandbox`).

Public API::

    parse_mysql_url(url, **overrides) -> MySQLTarget
    MysqldumpSource(target, password, policy=DumpPolicy()).start() -> DumpRun
    DumpRun.read(n) ... DumpRun.finish() -> DumpResult
    MysqlClientSink(target, password, byte_filter=None).write(b) ... .close() -> SinkResult
    RenameFilter(mapping, only, drop_locks=False, fresh=None).feed(b) ... .flush()
    MysqlTargetDatabases(target, password).existing(names) / .begin / .commit / .rollback
    connect(target, password) -> PyMySQL connection with the target's TLS rules
    table_stats(conn, databases, checksum_max_bytes, rename=None) -> list[TableStat]
    schema_objects(conn, databases, rename=None) -> list[SchemaObjects]
    compare_stats(expected, actual), compare_objects(expected, actual) -> list[str]

Sections dbseal appends to a dump: :mod:`dbseal.engines.mariadb.exactfloat` (exact FLOAT
values) and :mod:`dbseal.engines.mariadb.accounts` (accounts, as inert comments); what a backup
leaves out: :mod:`dbseal.engines.mariadb.exclude`.
"""

from dbseal.engines.mariadb.connect import TLSInfo, connect
from dbseal.engines.mariadb.dumprun import DumpPolicy, DumpResult, DumpRun
from dbseal.engines.mariadb.mysql_sink import MysqlClientSink, SinkResult
from dbseal.engines.mariadb.mysql_url import MySQLTarget, parse_mysql_url
from dbseal.engines.mariadb.mysqldump import DUMP_OPTIONS, MysqldumpSource
from dbseal.engines.mariadb.rename import RenameFilter
from dbseal.engines.mariadb.stats import (
    SchemaObjects,
    TableStat,
    compare_objects,
    compare_stats,
    schema_objects,
    table_stats,
)

__all__ = [
    "DUMP_OPTIONS",
    "DumpPolicy",
    "DumpResult",
    "DumpRun",
    "MySQLTarget",
    "MysqlClientSink",
    "MysqldumpSource",
    "RenameFilter",
    "SchemaObjects",
    "SinkResult",
    "TLSInfo",
    "TableStat",
    "compare_objects",
    "compare_stats",
    "connect",
    "parse_mysql_url",
    "schema_objects",
    "table_stats",
]
