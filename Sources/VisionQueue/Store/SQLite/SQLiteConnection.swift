/// One thread's access to the database: its own handle for reads, and the process's shared
/// writer (`SQLiteWriter`) for write transactions.
public final class SQLiteConnection: SQLDatabase {
    public typealias Value = SQLValue
    public typealias Row = SQLiteRow

    /// This thread's handle for reads, opened by its first read outside a write transaction: a
    /// worker thread that only writes never holds one (a handle is about 115 kB of SQLite's heap,
    /// mostly the parsed schema, and vision-process runs 16 threads).
    private var reader: SQLiteHandle?
    private let writer: SQLiteWriter
    /// The process's write handle while `writeTransaction` runs its body.
    private var writing: SQLiteHandle?
    private let path: String
    private let busyTimeoutMillis: Int32
    public let durability: SQLiteDurability
    private var inTransaction = false

    /// Opens (creating if needed) the database at `path` in WAL mode.
    /// - Parameters:
    ///   - busyTimeoutMillis: how long a statement waits for another connection's write lock.
    ///   - durability: whether a durable write transaction returns only once it is on disk.
    public init(path: String, busyTimeoutMillis: Int32 = 5_000, durability: SQLiteDurability = .full) throws(StoreError) {
        writer = try SQLiteWriterRegistry.writer(path: path, busyTimeoutMillis: busyTimeoutMillis)
        self.path = path
        self.busyTimeoutMillis = busyTimeoutMillis
        self.durability = durability
    }

    /// Runs SQL that takes no parameters and returns no rows we need (pragmas, DDL).
    public func execute(_ sql: String) throws(StoreError) {
        try current().exec(sql)
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    @discardableResult
    public func run(_ sql: String, _ values: [Value]) throws(StoreError) -> Int {
        try current().run(sql, values)
    }

    /// Runs a query and maps every row; a row `map` cannot read fails the query.
    public func rows<T>(_ sql: String, _ values: [Value], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> [T] {
        var result: [T] = []
        try current().forEachRow(sql, values) { row throws(StoreError) in result.append(try map(row)) }
        return result
    }

    /// Runs a query and maps its first row, if any.
    public func row<T>(_ sql: String, _ values: [Value], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> T? {
        try current().firstRow(sql, values) { row throws(StoreError) in try map(row) }
    }

    /// Nothing to do: `BEGIN IMMEDIATE` holds the database's one write lock for the whole
    /// transaction, so no other writer reads or writes the job meanwhile.
    public func lockJob(_ id: JobID) throws(StoreError) {}

    /// Nothing to do, for the same reason as `lockJob`.
    public func lockKey(_ key: String) throws(StoreError) {}

    /// Runs `body` in a write transaction taken with `BEGIN IMMEDIATE`, so two writers never
    /// deadlock upgrading read locks; returns once it is committed. The transaction may be shared
    /// with other writers of this process (`GroupCommit`): `body` runs in a savepoint of its own,
    /// and its failure undoes only its own changes. A lock held past the busy timeout is retried
    /// a few times before `StoreError.busy` reaches the caller.
    ///
    /// `durable: false` does not wait for the disk, for changes that may be lost on a power cut
    /// without harm (a claim: the category is simply claimed again); any later durable commit
    /// syncs them with it. With `durability` `.normal`, no commit waits for the disk.
    public func writeTransaction<T>(durable: Bool, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        let handle = writer.handle
        let busyTimeoutMillis = busyTimeoutMillis
        // As long as the writer running may itself wait for SQLite's lock (a first try and three
        // retries of the busy timeout each): a writer queued here gets the budget it had before.
        return try writer.commits.run(
            durable: durable && durability.syncsLog, waitingAtMost: 4 * Int(busyTimeoutMillis),
            isOpen: { handle.isInTransaction },
            begin: { () throws(StoreError) in
                handle.setBusyTimeout(busyTimeoutMillis)
                var attempt = 0
                while true {
                    do throws(StoreError) {
                        _ = try handle.run("BEGIN IMMEDIATE", [])
                        return
                    } catch .busy where attempt < 3 {
                        attempt += 1
                        QueueMetrics.storeBusyRetry("sqlite")
                    }
                }
            },
            member: { () throws(StoreError) -> T in
                // Always in an open transaction: `GroupCommit` ends a group whose transaction a
                // member's statement error ended before anyone else joins it.
                try self.onWriter(handle) { () throws(StoreError) -> T in
                    _ = try handle.run("SAVEPOINT member", [])
                    self.inTransaction = true
                    defer { self.inTransaction = false }
                    do throws(StoreError) {
                        let result = try body()
                        _ = try handle.run("RELEASE member", [])
                        return result
                    } catch {
                        do throws(StoreError) {
                            _ = try handle.run("ROLLBACK TO member", [])
                            _ = try handle.run("RELEASE member", [])
                        } catch {
                            // The member's changes cannot be undone alone: undo the group's.
                            _ = try? handle.run("ROLLBACK", [])
                        }
                        throw error
                    }
                }
            },
            commit: { () throws(StoreError) in
                // Another writer's failure ended the shared transaction: this writer's work
                // went with it, and trying again is all it takes.
                guard handle.isInTransaction else { throw StoreError.busy }
                _ = try handle.run("COMMIT", [])
            },
            rollback: {
                // Never hand the process's handle on inside a transaction.
                if handle.isInTransaction { _ = try? handle.run("ROLLBACK", []) }
            },
            sync: writer.syncLog)
    }

    /// Writers of this process waiting for the write connection (for tests that need a group).
    var queuedWriters: Int { writer.commits.queuedWriters }

    /// Runs `body` with statements going to the process's write handle.
    private func onWriter<T>(_ handle: SQLiteHandle, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        writing = handle
        defer { writing = nil }
        return try body()
    }

    /// The handle statements run on: the writer's inside `writeTransaction`, else this thread's reader.
    private func current() throws(StoreError) -> SQLiteHandle {
        if let writing { return writing }
        return try readHandle()
    }

    private func readHandle() throws(StoreError) -> SQLiteHandle {
        if let reader { return reader }
        let opened = try SQLiteHandle(path: path, busyTimeoutMillis: busyTimeoutMillis)
        reader = opened
        return opened
    }

    /// A consistent snapshot for several reads (a job and its categories).
    public func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        let reader = try readHandle()
        _ = try reader.run("BEGIN DEFERRED", [])
        inTransaction = true
        defer { inTransaction = false }
        do {
            let result = try body()
            _ = try reader.run("COMMIT", [])
            return result
        } catch {
            _ = try? reader.run("ROLLBACK", [])
            throw error
        }
    }
}
