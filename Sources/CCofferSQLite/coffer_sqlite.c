#include "coffer_sqlite.h"
#include "sqlite_nio_sqlite3.h"

int coffer_sqlite_enable_qpsg(void *db) {
    int enabled = 0;
    int status = sqlite_nio_sqlite3_db_config((sqlite3 *)db, SQLITE_DBCONFIG_ENABLE_QPSG, 1, &enabled);
    if (status == SQLITE_OK && !enabled) return SQLITE_ERROR;
    return status;
}
