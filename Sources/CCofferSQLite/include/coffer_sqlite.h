#ifndef COFFER_SQLITE_H
#define COFFER_SQLITE_H

/// Turns on SQLite's query planner stability guarantee for the connection `db` (a `sqlite3 *` of the SQLite that
/// SQLiteNIO vendors): plans no longer depend on bound values, so a kept prepared statement is never recompiled
/// because new values were bound to it. Returns SQLite's result code.
///
/// A C shim because `sqlite3_db_config` is variadic, and Swift does not call variadic C functions.
int coffer_sqlite_enable_qpsg(void *db);

#endif
