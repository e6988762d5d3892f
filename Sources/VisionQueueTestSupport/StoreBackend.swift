import Foundation
import VisionQueue

/// The stores the conformance suite runs on: every behaviour of `JobStore` is checked on each.
public enum StoreBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// An empty, migrated database of a test's own: a new SQLite file, or a new schema on the
    /// test PostgreSQL server.
    public func freshDatabase() throws -> TestDatabase {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("vq-store-\(UUID().uuidString).sqlite3").path
            _ = try SQLJobStore.sqlite(path: path, migrating: true)
            return TestDatabase(backend: self, location: path)
        case .postgres:
            return try TestDatabase(postgres: TestPostgres.shared.get())
        }
    }
}

/// One test's database; removed (SQLite) when the test lets go of it.
public final class TestDatabase: @unchecked Sendable {
    public let backend: StoreBackend
    /// The SQLite file's path, or the PostgreSQL schema.
    public let location: String

    /// The PostgreSQL server of a `.postgres` database.
    public let server: TestPostgres?

    init(backend: StoreBackend, location: String) {
        self.backend = backend
        self.location = location
        server = nil
    }

    /// A fresh, migrated schema on `postgres` (a dedicated server, or the shared one).
    public init(postgres: TestPostgres) throws {
        backend = .postgres
        location = postgres.freshSchema()
        server = postgres
        try PostgresSchema.migrate(postgres.connection(schema: location), schema: location)
    }

    /// A schema on `postgres` that something else migrated.
    public init(postgres: TestPostgres, migratedSchema schema: String) {
        backend = .postgres
        location = schema
        server = postgres
    }

    /// A SQLite file a stack creates and migrates itself (and removes with its folder).
    public init(sqliteFile path: String) {
        backend = .sqlite
        location = path
        server = nil
        removesFile = false
    }

    private var removesFile = true

    deinit {
        guard backend == .sqlite, removesFile else { return }
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: location + suffix) }
    }

    /// A new connection, as another worker thread would open.
    public func store(owner: String = ClaimOwner.current, webhookEvents: Bool = false) throws -> SQLJobStore {
        SQLJobStore(database: try connection(), owner: owner, webhookEvents: webhookEvents)
    }

    /// A bare connection, for statements behind the store's back.
    public func connection() throws -> any SQLDatabase {
        switch backend {
        case .sqlite: try SQLiteConnection(path: location)
        case .postgres: try (server ?? TestPostgres.shared.get()).connection(schema: location)
        }
    }

    /// The settings a stack (`vision-queue serve`) needs to use this database.
    public var environment: [String: String] {
        switch backend {
        case .sqlite: ["VQ_DB_PATH": location]
        case .postgres: ["VQ_DATABASE_URL": server?.url ?? "", "VQ_DATABASE_SCHEMA": location]
        }
    }
}
