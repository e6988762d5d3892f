import FoundationEssentials

/// Opens the configured store, the one place that knows which: PostgreSQL when `VQ_DATABASE_URL`
/// is set, else the SQLite file (`VQ_DB_PATH`). It owns migration: `migrate()` brings the schema
/// up to date once per process (safe when every process of every node starts at once), and
/// `open()` then only connects, as each worker thread does (PostgreSQL connects on first use).
public struct JobStoreFactory: Sendable {
    public let configuration: VisionQueueConfiguration

    public init(configuration: VisionQueueConfiguration) {
        self.configuration = configuration
    }

    /// Which database, in words for the log (never the password).
    public var description: String {
        if configuration.databaseURL != nil { return "PostgreSQL (schema \(configuration.databaseSchema))" }
        return "SQLite at \(configuration.databasePath)"
    }

    /// Brings the schema up to date; a schema newer than this build stops the caller.
    public func migrate() throws {
        if configuration.databaseURL != nil {
            try PostgresSchema.migrate(postgres(), schema: configuration.databaseSchema)
            return
        }
        try FileManager.default.createParentDirectory(of: configuration.databasePath)
        _ = try SQLJobStore.sqlite(
            path: configuration.databasePath, durability: configuration.durability,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis), migrating: true)
    }

    /// A connection for one thread, on a schema `migrate()` brought up to date.
    public func open() throws(StoreError) -> JobStore {
        let webhookEvents = configuration.webhook != nil
        if configuration.databaseURL != nil { return SQLJobStore(database: postgres(), webhookEvents: webhookEvents) }
        return try SQLJobStore.sqlite(
            path: configuration.databasePath, durability: configuration.durability,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis), migrating: false, webhookEvents: webhookEvents)
    }

    private func postgres() -> PostgresConnection {
        PostgresConnection(
            .init(
                url: configuration.databaseURL ?? "", schema: configuration.databaseSchema,
                lockTimeoutMillis: configuration.busyTimeoutMillis))
    }
}
