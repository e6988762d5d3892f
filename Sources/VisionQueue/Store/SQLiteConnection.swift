import CSQLite

/// One thread's access to the database: its own handle for reads, and the process's shared
/// handle for write transactions (see `SharedWriter`). The only Swift file that touches the C API.
///
/// Statements are compiled once per handle and reused: compiling SQL costs more than running
/// the small indexed queries this service makes.
public final class SQLiteConnection {
    /// A value bound to a `?` placeholder.
    public enum Value: Sendable, Equatable {
        case int(Int64)
        case text(String)
        case null

        public static func optional(_ text: String?) -> Value { text.map(Value.text) ?? .null }
        public static func optional(_ int: Int64?) -> Value { int.map(Value.int) ?? .null }
    }

    /// Read access to the current row of a statement while it is being stepped.
    public struct Row {
        fileprivate let statement: OpaquePointer

        public func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        public func optionalInt(_ column: Int32) -> Int64? {
            sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
        }
        public func text(_ column: Int32) -> String { optionalText(column) ?? "" }
        public func optionalText(_ column: Int32) -> String? {
            guard let pointer = sqlite3_column_text(statement, column) else { return nil }
            let count = Int(sqlite3_column_bytes(statement, column))
            return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
        }
    }

    /// One `sqlite3` handle and the statements compiled on it.
    private final class Handle {
        let db: OpaquePointer
        var statements: [String: OpaquePointer] = [:]

        init(path: String, busyTimeoutMillis: Int32, synchronous: String) throws(StoreError) {
            var db: OpaquePointer?
            let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
            let code = sqlite3_open_v2(path, &db, flags, nil)
            guard code == SQLITE_OK, let db else {
                let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
                sqlite3_close_v2(db)
                throw .database(code: code, message: message)
            }
            self.db = db
            sqlite3_busy_timeout(db, busyTimeoutMillis)
            sqlite3_extended_result_codes(db, 1)
            // No memory map (mmap_size stays 0): the file grows with every checkpoint, and each
            // growth made every connection remap it, an munmap per category step under load whose
            // TLB shootdowns every thread paid for; pread costs less here (bench/, figure 3).
            for pragma in ["journal_mode=WAL", "synchronous=\(synchronous)", "foreign_keys=ON"] {
                try exec("PRAGMA \(pragma)")
            }
        }

        /// Inside a transaction (SQLite ends one on its own after a full disk or an I/O error).
        var isInTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

        /// Runs SQL that takes no parameters and returns no rows we need.
        func exec(_ sql: String) throws(StoreError) {
            var message: UnsafeMutablePointer<CChar>?
            let code = sqlite3_exec(db, sql, nil, nil, &message)
            if code != SQLITE_OK {
                let text = message.map { String(cString: $0) } ?? "error"
                sqlite3_free(message)
                throw SQLiteConnection.error(code: code, message: text)
            }
        }

        deinit {
            for statement in statements.values { sqlite3_finalize(statement) }
            sqlite3_close_v2(db)
        }
    }

    /// The process's write connection to one database, used by one thread at a time through its
    /// group commit.
    ///
    /// Writers queue in the process rather than in SQLite's busy handler, which sleeps 1, 2, 5, 10
    /// ... ms between tries, far longer than a write here holds the lock: with every worker thread
    /// contending, threads slept while the database sat free (bench/, figure 3: about three such
    /// sleeps per step). They share one connection: a WAL connection drops its whole page cache
    /// whenever another connection committed since it last read, so with a connection per thread
    /// every write transaction began by reading its pages again. And writers queued together
    /// commit together (`GroupCommit`). SQLite's lock and busy timeout still arbitrate between
    /// processes.
    ///
    /// The handle itself runs with `synchronous=NORMAL`: when the service is configured `FULL`,
    /// a group with a durable member syncs the write-ahead log itself after its COMMIT, as SQLite
    /// would have done inside it, but after SQLite's write lock is released, so others write
    /// while this group waits for the disk. Callers still return only after the sync; other
    /// connections may read the change a moment before it is on disk, which a power cut could
    /// then undo (a status poll saw a category done that is then written again).
    private final class SharedWriter: @unchecked Sendable {
        let commits = GroupCommit()
        let handle: Handle
        /// Sync the log after a durable group's COMMIT (the service is configured `FULL`).
        let syncsLog: Bool
        /// Syncs the log while `handle` goes on writing: a connection of its own, since a handle
        /// is used by one thread at a time. `GroupCommit` calls it one sync at a time.
        private let syncer: Handle

        init(path: String, busyTimeoutMillis: Int32, syncsLog: Bool) throws(StoreError) {
            handle = try Handle(path: path, busyTimeoutMillis: busyTimeoutMillis, synchronous: "NORMAL")
            syncer = try Handle(path: path, busyTimeoutMillis: busyTimeoutMillis, synchronous: "NORMAL")
            self.syncsLog = syncsLog
            // A connection opens the log on its first read, and keeps it while it is open.
            try syncer.exec("PRAGMA schema_version")
        }

        /// Brings every commit in the log so far to disk, as `synchronous=FULL` does at COMMIT.
        ///
        /// A failed sync stops the process, as PostgreSQL does: the commits it should have covered
        /// are already visible, and after a failed fsync the kernel may have dropped their pages
        /// while a later fsync reports success, so carrying on would answer for writes that may
        /// be gone. On restart the log is read back from the disk.
        func syncLog() throws(StoreError) {
            let code = vq_sqlite3_sync_wal(syncer.db)
            if code == SQLITE_NOTFOUND { throw StoreError.database(code: code, message: "the write-ahead log is not open") }
            guard code == SQLITE_OK else { fatalError("cannot sync the write-ahead log (SQLite error \(code)); stopping") }
        }

        private final class WeakReference { weak var writer: SharedWriter? }
        private static let registryLock = Lock()
        nonisolated(unsafe) private static var registry: [String: WeakReference] = [:]

        /// The process's writer for this file and durability, opened on first use and closed when
        /// the last connection using it goes.
        static func shared(path: String, busyTimeoutMillis: Int32, synchronous: String) throws(StoreError) -> SharedWriter {
            registryLock.lock()
            defer { registryLock.unlock() }
            let key = "\(synchronous) \(busyTimeoutMillis) \(path)"
            if let writer = registry[key]?.writer { return writer }
            let writer = try SharedWriter(path: path, busyTimeoutMillis: busyTimeoutMillis, syncsLog: synchronous == "FULL")
            let reference = WeakReference()
            reference.writer = writer
            registry = registry.filter { $0.value.writer != nil }
            registry[key] = reference
            return writer
        }
    }

    /// This thread's handle for reads.
    private let reader: Handle
    private let writer: SharedWriter
    /// The handle statements run on: the writer's inside `writeTransaction`, else the reader.
    private var current: Handle
    private let busyTimeoutMillis: Int32
    private var inTransaction = false

    /// Opens (creating if needed) the database at `path` in WAL mode.
    /// - Parameters:
    ///   - busyTimeoutMillis: how long a statement waits for another connection's write lock.
    ///   - synchronous: `FULL` makes each commit durable against power loss; `NORMAL` in WAL mode
    ///     is durable against process crashes only.
    public init(path: String, busyTimeoutMillis: Int32 = 5_000, synchronous: String = "FULL") throws(StoreError) {
        let synchronous = synchronous == "NORMAL" ? "NORMAL" : "FULL"
        reader = try Handle(path: path, busyTimeoutMillis: busyTimeoutMillis, synchronous: synchronous)
        writer = try SharedWriter.shared(path: path, busyTimeoutMillis: busyTimeoutMillis, synchronous: synchronous)
        current = reader
        self.busyTimeoutMillis = busyTimeoutMillis
    }

    /// Runs SQL that takes no parameters and returns no rows we need (pragmas, DDL).
    public func execute(_ sql: String) throws(StoreError) {
        try current.exec(sql)
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    @discardableResult
    public func run(_ sql: String, _ values: [Value] = []) throws(StoreError) -> Int {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var code = sqlite3_step(statement)
        while code == SQLITE_ROW { code = sqlite3_step(statement) }
        guard code == SQLITE_DONE else { throw lastError(code) }
        return Int(sqlite3_changes(current.db))
    }

    /// Runs a query and maps every row.
    public func rows<T>(_ sql: String, _ values: [Value] = [], _ map: (Row) -> T) throws(StoreError) -> [T] {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var result: [T] = []
        var code = sqlite3_step(statement)
        while code == SQLITE_ROW {
            result.append(map(Row(statement: statement)))
            code = sqlite3_step(statement)
        }
        guard code == SQLITE_DONE else { throw lastError(code) }
        return result
    }

    /// Runs a query and maps its first row, if any.
    public func row<T>(_ sql: String, _ values: [Value] = [], _ map: (Row) -> T) throws(StoreError) -> T? {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        if code == SQLITE_ROW { return map(Row(statement: statement)) }
        guard code == SQLITE_DONE else { throw lastError(code) }
        return nil
    }

    /// Runs `body` in a write transaction taken with `BEGIN IMMEDIATE`, so two writers never
    /// deadlock upgrading read locks; returns once it is committed. The transaction may be shared
    /// with other writers of this process (`GroupCommit`): `body` runs in a savepoint of its own,
    /// and its failure undoes only its own changes. A lock held past the busy timeout is retried
    /// a few times before `StoreError.busy` reaches the caller.
    ///
    /// `durable: false` does not wait for the disk, for changes that may be lost on a power cut
    /// without harm (a claim: the category is simply claimed again); any later durable commit
    /// syncs them with it. With `synchronous=NORMAL` configured, no commit waits for the disk.
    public func writeTransaction<T>(durable: Bool = true, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        let handle = writer.handle
        // As long as the writer running may itself wait for SQLite's lock (a first try and three
        // retries of the busy timeout each): a writer queued here gets the budget it had before.
        return try writer.commits.run(
            durable: durable && writer.syncsLog, waitingAtMost: 4 * Int(busyTimeoutMillis),
            isOpen: { handle.isInTransaction },
            begin: { () throws(StoreError) in
                try self.onWriter(handle) { () throws(StoreError) in
                    var attempt = 0
                    while true {
                        do throws(StoreError) {
                            try self.run("BEGIN IMMEDIATE")
                            return
                        } catch .busy where attempt < 3 {
                            attempt += 1
                        }
                    }
                }
            },
            member: { () throws(StoreError) -> T in
                // Always in an open transaction: `GroupCommit` ends a group whose transaction a
                // member's statement error ended before anyone else joins it.
                try self.onWriter(handle) { () throws(StoreError) -> T in
                    try self.run("SAVEPOINT member")
                    self.inTransaction = true
                    defer { self.inTransaction = false }
                    do throws(StoreError) {
                        let result = try body()
                        try self.run("RELEASE member")
                        return result
                    } catch {
                        do throws(StoreError) {
                            try self.run("ROLLBACK TO member")
                            try self.run("RELEASE member")
                        } catch {
                            // The member's changes cannot be undone alone: undo the group's.
                            _ = try? self.run("ROLLBACK")
                        }
                        throw error
                    }
                }
            },
            commit: { () throws(StoreError) in
                try self.onWriter(handle) { () throws(StoreError) in
                    // Another writer's failure ended the shared transaction: this writer's work
                    // went with it, and trying again is all it takes.
                    guard handle.isInTransaction else { throw StoreError.busy }
                    try self.run("COMMIT")
                }
            },
            rollback: {
                // Never hand the process's handle on inside a transaction.
                if handle.isInTransaction { try? handle.exec("ROLLBACK") }
            },
            sync: writer.syncLog)
    }

    /// Writers of this process waiting for the write connection (for tests that need a group).
    var queuedWriters: Int { writer.commits.queuedWriters }

    /// Runs `body` with statements going to the process's write handle.
    private func onWriter<T>(_ handle: Handle, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        current = handle
        defer { current = reader }
        return try body()
    }

    /// A consistent snapshot for several reads (a job and its categories).
    public func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        try run("BEGIN DEFERRED")
        return try committing(body)
    }

    /// Runs `body` in the transaction just begun: commits what it did, or rolls back if it threw.
    private func committing<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        inTransaction = true
        defer { inTransaction = false }
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    private func prepared(_ sql: String, _ values: [Value]) throws(StoreError) -> OpaquePointer {
        let statement: OpaquePointer
        if let cached = current.statements[sql] {
            statement = cached
        } else {
            var compiled: OpaquePointer?
            let code = sqlite3_prepare_v3(current.db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &compiled, nil)
            guard code == SQLITE_OK, let compiled else { throw lastError(code) }
            current.statements[sql] = compiled
            statement = compiled
        }
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .int(let int): code = sqlite3_bind_int64(statement, index, int)
            case .null: code = sqlite3_bind_null(statement, index)
            case .text(let text):
                var text = text
                code = text.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { chars in
                        // An empty buffer may have no address; SQLite wants a non-null pointer for ''.
                        guard let base = chars.baseAddress else { return sqlite3_bind_text(statement, index, "", 0, nil) }
                        return vq_sqlite3_bind_text_copy(statement, index, base, Int32(chars.count))
                    }
                }
            }
            guard code == SQLITE_OK else { throw lastError(code) }
        }
        return statement
    }

    private func lastError(_ code: Int32) -> StoreError {
        Self.error(code: code, message: String(cString: sqlite3_errmsg(current.db)))
    }

    fileprivate static func error(code: Int32, message: String) -> StoreError {
        switch code & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        default: .database(code: code, message: message)
        }
    }
}
