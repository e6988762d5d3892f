#include <stddef.h>
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro Swift cannot import: bind copies of our buffers through this. */
static inline int vq_sqlite3_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}

/* Syncs the database's write-ahead log to disk the way a commit with synchronous=FULL does
 * (the VFS's xSync with SQLITE_SYNC_NORMAL), for writers that commit with NORMAL and sync after
 * releasing the write lock. SQLITE_NOTFOUND while this connection has not opened the log. */
static inline int vq_sqlite3_sync_wal(sqlite3 *db) {
    sqlite3_file *log = NULL;
    int code = sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &log);
    if (code != SQLITE_OK) return code;
    if (log == NULL || log->pMethods == NULL) return SQLITE_NOTFOUND;
    return log->pMethods->xSync(log, SQLITE_SYNC_NORMAL);
}
