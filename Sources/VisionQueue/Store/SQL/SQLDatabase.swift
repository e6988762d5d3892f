/// A value bound to a `?` placeholder.
public enum SQLValue: Sendable, Equatable {
    case int(Int64)
    case text(String)
    case null

    public static func optional(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
    public static func optional(_ int: Int64?) -> SQLValue { int.map(SQLValue.int) ?? .null }
}

/// One row of a result while it is being read. A NULL reads as 0 or "" through `int` and `text`.
public protocol SQLRow {
    func int(_ column: Int32) -> Int64
    func optionalInt(_ column: Int32) -> Int64?
    func text(_ column: Int32) -> String
    func optionalText(_ column: Int32) -> String?
}

/// One thread's connection to the database, as `SQLJobStore` uses it: statements with `?`
/// placeholders, written in the SQL both SQLite and PostgreSQL read, and transactions.
///
/// What SQLite gives by its single writer, PostgreSQL (READ COMMITTED) gives only with locks: the
/// store asks for them where its correctness rests on them (`lockJob`, `lockKey`), and each
/// database provides them its own way (SQLite needs none: `BEGIN IMMEDIATE` already serializes
/// every write transaction).
public protocol SQLDatabase: AnyObject {
    /// SQL without parameters or rows (DDL, settings).
    func execute(_ sql: String) throws(StoreError)
    /// A statement that returns no rows; answers how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> Int
    /// A query, every row mapped; a row `map` cannot read fails the query.
    func rows<T>(_ sql: String, _ values: [SQLValue], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> [T]
    /// A query's first row, mapped.
    func row<T>(_ sql: String, _ values: [SQLValue], _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> T?

    /// Runs `body` in a write transaction; returns once it is committed (and, when `durable`, on
    /// disk). `durable: false` is for changes a power cut may lose without harm (a claim, a
    /// heartbeat, text so far). Contention past every retry throws `.busy`.
    func writeTransaction<T>(durable: Bool, _ body: () throws(StoreError) -> T) throws(StoreError) -> T
    /// A consistent snapshot for several reads.
    func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T

    /// Inside a write transaction: holds the job's row until the transaction ends, so two writers
    /// that read, decide and write the same job (two claims) run one after the other.
    func lockJob(_ id: JobID) throws(StoreError)
    /// Inside a write transaction: holds a named lock until the transaction ends, for decisions
    /// over many rows (a user's limits, the running categories of the whole service).
    func lockKey(_ key: String) throws(StoreError)
}

extension SQLDatabase {
    @discardableResult
    public func run(_ sql: String) throws(StoreError) -> Int { try run(sql, []) }

    public func rows<T>(_ sql: String, _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> [T] {
        try rows(sql, [], map)
    }

    public func row<T>(_ sql: String, _ map: (any SQLRow) throws(StoreError) -> T) throws(StoreError) -> T? {
        try row(sql, [], map)
    }

    public func writeTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try writeTransaction(durable: true, body)
    }
}
