import CPostgres
import Glibc

/// One thread's connection to PostgreSQL (libpq): the only Swift file that touches libpq.
///
/// Opened on first use and opened again by itself after it broke (a restart, a failover): while
/// the server is out of reach every call throws `StoreError.unavailable`, which endpoints answer
/// with 503 and `Retry-After`, and the next call tries to connect again. Statements are prepared
/// once per connection, with the `?` placeholders the store writes turned into `$1, $2, ...`.
public final class PostgresConnection: SQLDatabase {
    public struct Settings: Sendable {
        /// A libpq connection string or URL (`postgres://user:password@host:5432/db`).
        public var url: String
        /// The schema the tables live in (`search_path`).
        public var schema: String
        /// How long a statement waits for a lock another transaction holds before the store
        /// answers busy (`lock_timeout`).
        public var lockTimeoutMillis: Int

        public init(url: String, schema: String = "vision_queue", lockTimeoutMillis: Int = 5_000) {
            self.url = url
            self.schema = schema
            self.lockTimeoutMillis = lockTimeoutMillis
        }
    }

    private let settings: Settings
    private var connection: OpaquePointer?
    /// Prepared statement names by their SQL, for this connection's life.
    private var prepared: [String: String] = [:]
    private var inTransaction = false

    public init(_ settings: Settings) {
        self.settings = settings
    }

    deinit { PQfinish(connection) }

    // MARK: SQLDatabase

    public func execute(_ sql: String) throws(StoreError) {
        let result = PQexec(try connected(), sql)
        defer { PQclear(result) }
        try check(result)
    }

    @discardableResult
    public func run(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> Int {
        let result = try executePrepared(sql, values)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    public func rows<T>(_ sql: String, _ values: [SQLValue], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> [T] {
        let result = try executePrepared(sql, values)
        defer { PQclear(result) }
        let count = PQntuples(result)
        var mapped: [T] = []
        mapped.reserveCapacity(Int(count))
        for index in 0..<count { mapped.append(try map(PostgresRow(result: result, row: index))) }
        return mapped
    }

    public func row<T>(_ sql: String, _ values: [SQLValue], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> T? {
        let result = try executePrepared(sql, values)
        defer { PQclear(result) }
        guard PQntuples(result) > 0 else { return nil }
        return try map(PostgresRow(result: result, row: 0))
    }

    /// READ COMMITTED, as PostgreSQL's default: the store takes the locks it needs. A serialization
    /// failure or a deadlock (two writers crossing) is tried again, a few times, before `.busy`.
    /// `durable: false` commits without waiting for the log to reach the disk
    /// (`synchronous_commit = off`): a crash of the server may lose it, never corrupt anything.
    public func writeTransaction<T>(durable: Bool, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        var attempt = 0
        while true {
            do throws(StoreError) {
                return try transaction(begin: durable ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit TO OFF", body)
            } catch .busy where attempt < 3 {
                attempt += 1
                QueueMetrics.storeBusyRetry("postgres")
                usleep(useconds_t(Int.random(in: 1_000...(10_000 << attempt))))
            }
        }
    }

    public func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        precondition(!inTransaction, "nested transaction")
        return try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// The job's row, locked until the transaction ends: claims of one job wait for each other
    /// (a job is named by its trigger, so there is no other job to skip to, as `SKIP LOCKED` would).
    public func lockJob(_ id: JobID) throws(StoreError) {
        _ = try rows("SELECT 1 FROM vision_generation_jobs WHERE id = ? FOR UPDATE", [.text(id.rawValue)]) { _ in () }
    }

    /// A transaction-scoped advisory lock on the key's 64-bit hash.
    public func lockKey(_ key: String) throws(StoreError) {
        _ = try rows("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [.text(key)]) { _ in () }
    }

    // MARK: Connecting

    /// The live connection, opened (again) if needed.
    private func connected() throws(StoreError) -> OpaquePointer {
        if let connection, PQstatus(connection) == CONNECTION_OK { return connection }
        if inTransaction { throw .unavailable("the connection to PostgreSQL dropped mid-transaction") }
        PQfinish(connection)
        connection = nil
        prepared = [:]
        if let failure = vq_pq_load_error() { throw .unavailable(String(cString: failure)) }
        let opened = PQconnectdb(Self.withDefaults(settings.url))
        guard let opened, PQstatus(opened) == CONNECTION_OK else {
            let reason = opened.map { Self.message(PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(opened)
            throw .unavailable(Self.redacted(reason, url: settings.url))
        }
        connection = opened
        let setup = """
            SET search_path TO \(Self.quoted(settings.schema)), public;
            SET lock_timeout = \(settings.lockTimeoutMillis);
            SET application_name = 'vision-queue';
            SET client_min_messages TO warning
            """
        let result = PQexec(opened, setup)
        defer { PQclear(result) }
        try check(result)
        return opened
    }

    /// A connect timeout when the URL gives none, so a server that is gone fails a call in seconds.
    static func withDefaults(_ url: String) -> String {
        guard !url.contains("connect_timeout") else { return url }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return url + (url.contains("?") ? "&" : "?") + "connect_timeout=5"
        }
        return url + " connect_timeout=5"
    }

    // MARK: Statements

    private func transaction<T>(begin: String, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute(begin)
        inTransaction = true
        do throws(StoreError) {
            let result = try body()
            inTransaction = false
            try execute("COMMIT")
            return result
        } catch {
            inTransaction = false
            if let connection, PQstatus(connection) == CONNECTION_OK { try? execute("ROLLBACK") }
            throw error
        }
    }

    private func executePrepared(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> OpaquePointer {
        let connection = try connected()
        let name: String
        if let known = prepared[sql] {
            name = known
        } else {
            name = "s\(prepared.count)"
            let result = PQprepare(connection, name, Self.numbered(sql), 0, nil)
            defer { PQclear(result) }
            try check(result)
            prepared[sql] = name
        }
        let texts: [String?] = values.map { value in
            switch value {
            case .int(let int): String(int)
            case .text(let text): text
            case .null: nil
            }
        }
        let result = Self.withCStrings(texts) { parameters in
            PQexecPrepared(connection, name, Int32(parameters.count), parameters, nil, nil, 0)
        }
        do throws(StoreError) {
            try check(result)
        } catch {
            PQclear(result)
            throw error
        }
        return result!
    }

    /// `?` placeholders as PostgreSQL's `$1, $2, ...` (the store's SQL has no `?` in its literals).
    static func numbered(_ sql: String) -> String {
        var output = ""
        var index = 0
        for character in sql {
            if character == "?" {
                index += 1
                output += "$\(index)"
            } else {
                output.append(character)
            }
        }
        return output
    }

    private static func withCStrings<R>(_ texts: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies = texts.map { text in text.map { strdup($0) } ?? nil }
        defer { for copy in copies { free(copy) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }

    // MARK: Errors

    /// Throws the store's word for a failed result: a lock timeout, a serialization failure or a
    /// deadlock is busy; a connection that is gone (or a server shutting down or starting) is
    /// unavailable; anything else is the backend's, with its SQLSTATE.
    private func check(_ result: OpaquePointer?) throws(StoreError) {
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status != PGRES_COMMAND_OK, status != PGRES_TUPLES_OK else { return }
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
        let message = Self.redacted(
            result.map { Self.message(PQresultErrorMessage($0)) } ?? Self.message(PQerrorMessage(connection)), url: settings.url)
        if let connection, PQstatus(connection) != CONNECTION_OK {
            throw .unavailable(message.isEmpty ? "the connection to PostgreSQL was lost" : message)
        }
        switch state {
        case "40001", "40P01", "55P03": throw .busy
        case "57P01", "57P02", "57P03", "53300": throw .unavailable(message)
        case "08P01":
            // A protocol violation (a statement sent with the wrong number of values): a bug of
            // ours, not a connection that went away.
            throw .backend(code: "SQLSTATE \(state)", message: message)
        default:
            if state.hasPrefix("08") || state.isEmpty { throw .unavailable(message) }
            throw .backend(code: "SQLSTATE \(state)", message: message)
        }
    }

    private static func message(_ text: UnsafePointer<CChar>?) -> String {
        text.map { String(cString: $0) }?.trimmed ?? ""
    }

    /// Messages never carry the connection string's password.
    static func redacted(_ message: String, url: String) -> String {
        guard let password = password(in: url), !password.isEmpty else { return message }
        return message.replacingAll(password, with: "[redacted]")
    }

    /// The password of a `postgres://user:password@host/db` URL or a `password=` keyword.
    static func password(in url: String) -> String? {
        if let scheme = url.firstRange(of: "://") {
            let rest = url[scheme.upperBound...]
            guard let at = rest.lastIndex(of: "@") else { return nil }
            let userInfo = rest[..<at]
            guard let colon = userInfo.firstIndex(of: ":") else { return nil }
            return String(userInfo[userInfo.index(after: colon)...])
        }
        for pair in url.split(separator: " ") where pair.hasPrefix("password=") {
            return String(pair.dropFirst("password=".count))
        }
        return nil
    }

    /// A schema name as an SQL identifier.
    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingAll("\"", with: "\"\"") + "\""
    }
}

/// One row of a PostgreSQL result, read as text (libpq's text format) and parsed.
struct PostgresRow: SQLRow {
    let result: OpaquePointer
    let row: Int32

    func int(_ column: Int32) -> Int64 { optionalInt(column) ?? 0 }

    func optionalInt(_ column: Int32) -> Int64? {
        guard let text = optionalText(column) else { return nil }
        if let int = Int64(text) { return int }
        // numeric sums and the like come back with a decimal part
        return Double(text).map { Int64($0) }
    }

    func text(_ column: Int32) -> String { optionalText(column) ?? "" }

    func optionalText(_ column: Int32) -> String? {
        guard PQgetisnull(result, row, column) == 0, let value = PQgetvalue(result, row, column) else { return nil }
        return String(cString: value)
    }
}
