import CSQLite

/// Read access to the current row of a statement while it is being stepped.
public struct SQLiteRow: SQLRow {
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

/// One `sqlite3` handle and the statements compiled on it: the only Swift file that touches
/// SQLite's C API. Used by one thread at a time.
///
/// Statements are compiled once per handle and reused: compiling SQL costs more than running the
/// small indexed queries this service makes.
final class SQLiteHandle {
    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    private var busyTimeoutMillis: Int32

    /// Opens (creating if needed) the database at `path` in WAL mode.
    ///
    /// No memory map (`mmap_size` stays 0): the file grows with every checkpoint and each growth
    /// made every connection remap it, an munmap per category step under load whose TLB shootdowns
    /// every thread paid for; pread costs less. Commits run with `synchronous=NORMAL`: the writers
    /// that need the disk sync the log themselves (`syncLog`), after releasing the write lock.
    init(path: String, busyTimeoutMillis: Int32) throws(StoreError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close_v2(db)
            throw .backend(code: Self.codeName(code), message: message)
        }
        self.db = db
        self.busyTimeoutMillis = busyTimeoutMillis
        sqlite3_busy_timeout(db, busyTimeoutMillis)
        sqlite3_extended_result_codes(db, 1)
        for pragma in ["journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"] {
            try exec("PRAGMA \(pragma)")
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    /// Inside a transaction (SQLite ends one on its own after a full disk or an I/O error).
    var isInTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    /// How long a statement waits for another connection's lock; set per caller, since one
    /// shared write handle serves connections opened with different timeouts.
    func setBusyTimeout(_ millis: Int32) {
        guard millis != busyTimeoutMillis else { return }
        busyTimeoutMillis = millis
        sqlite3_busy_timeout(db, millis)
    }

    /// Runs SQL that takes no parameters and returns no rows we need.
    func exec(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(db, sql, nil, nil, &message)
        if code != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw Self.error(code: code, message: text)
        }
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    func run(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> Int {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var code = sqlite3_step(statement)
        while code == SQLITE_ROW { code = sqlite3_step(statement) }
        guard code == SQLITE_DONE else { throw lastError(code) }
        return Int(sqlite3_changes(db))
    }

    /// Runs a query and hands every row to `each`.
    func forEachRow(_ sql: String, _ values: [SQLValue], _ each: (SQLiteRow) throws(StoreError) -> Void) throws(StoreError) {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var code = sqlite3_step(statement)
        while code == SQLITE_ROW {
            try each(SQLiteRow(statement: statement))
            code = sqlite3_step(statement)
        }
        guard code == SQLITE_DONE else { throw lastError(code) }
    }

    /// Runs a query and maps its first row, if any.
    func firstRow<T>(_ sql: String, _ values: [SQLValue], _ map: (SQLiteRow) throws(StoreError) -> T) throws(StoreError) -> T? {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        if code == SQLITE_ROW { return try map(SQLiteRow(statement: statement)) }
        guard code == SQLITE_DONE else { throw lastError(code) }
        return nil
    }

    /// Makes every commit in the write-ahead log so far durable, as `synchronous=FULL` does at
    /// COMMIT. Needs the log open on this handle (any read opens it, and it stays open).
    ///
    /// A failed sync stops the process, as PostgreSQL does: the commits it should have covered
    /// are already visible, and after a failed fsync the kernel may have dropped their pages while
    /// a later fsync reports success, so carrying on would answer for writes that may be gone. On
    /// restart the log is read back from the disk.
    func syncLog() throws(StoreError) {
        let code = vq_sqlite3_sync_wal(db)
        if code == SQLITE_NOTFOUND { throw StoreError.backend(code: Self.codeName(code), message: "the write-ahead log is not open") }
        guard code == SQLITE_OK else { fatalError("cannot sync the write-ahead log (SQLite error \(code)); stopping") }
    }

    private func prepared(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> OpaquePointer {
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var compiled: OpaquePointer?
            let code = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &compiled, nil)
            guard code == SQLITE_OK, let compiled else { throw lastError(code) }
            statements[sql] = compiled
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
        Self.error(code: code, message: String(cString: sqlite3_errmsg(db)))
    }

    private static func error(code: Int32, message: String) -> StoreError {
        switch code & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        default: .backend(code: codeName(code), message: message)
        }
    }

    /// `SQLITE_IOERR (10)`: SQLite's name for a result code, with the number.
    static func codeName(_ code: Int32) -> String {
        let names: [Int32: String] = [
            1: "SQLITE_ERROR", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT", 5: "SQLITE_BUSY", 6: "SQLITE_LOCKED",
            7: "SQLITE_NOMEM", 8: "SQLITE_READONLY", 9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT",
            12: "SQLITE_NOTFOUND", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 15: "SQLITE_PROTOCOL", 17: "SQLITE_SCHEMA",
            18: "SQLITE_TOOBIG", 19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 21: "SQLITE_MISUSE", 26: "SQLITE_NOTADB",
        ]
        return "\(names[code & 0xFF] ?? "SQLITE") (\(code))"
    }
}
