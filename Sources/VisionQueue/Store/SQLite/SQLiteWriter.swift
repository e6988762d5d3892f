/// The process's write connection to one database file, used by one writer at a time through its
/// group commit. `SQLiteWriterRegistry` hands every connection of the process to the same one.
///
/// Writers queue in the process rather than in SQLite's busy handler, which sleeps 1, 2, 5, 10 ...
/// ms between tries, far longer than a write here holds the lock: with every worker thread
/// contending, threads slept while the database sat free. They share one connection: a WAL
/// connection drops its whole page cache whenever another connection committed since it last
/// read, so with a connection per thread every write transaction began by reading its pages again.
/// And writers queued together commit together (`GroupCommit`). SQLite's lock and busy timeout
/// still arbitrate between processes.
///
/// The handle commits with `synchronous=NORMAL`; a group with a member that needs the disk syncs
/// the write-ahead log after its COMMIT (`syncLog`), as `FULL` would have done inside it, but
/// after SQLite's write lock is released, so others write while this group waits for the disk.
/// Callers still return only after the sync; other connections may read the change a moment
/// before it is on disk, which a power cut could then undo (a status poll saw a category done that
/// is then written again).
final class SQLiteWriter: @unchecked Sendable {
    let commits = GroupCommit()
    /// Where write transactions run; only the writer whose turn it is touches it.
    let handle: SQLiteHandle
    /// Syncs the log while `handle` goes on writing: a handle of its own, since a handle is used
    /// by one thread at a time. `GroupCommit` calls `syncLog` one sync at a time.
    private let syncer: SQLiteHandle

    init(path: String, busyTimeoutMillis: Int32) throws(StoreError) {
        handle = try SQLiteHandle(path: path, busyTimeoutMillis: busyTimeoutMillis)
        syncer = try SQLiteHandle(path: path, busyTimeoutMillis: busyTimeoutMillis)
        // A connection opens the log on its first read, and keeps it while it is open.
        try syncer.exec("PRAGMA schema_version")
    }

    /// Brings every commit in the log so far to disk (see `SQLiteHandle.syncLog`).
    func syncLog() throws(StoreError) {
        try syncer.syncLog()
    }
}
