import FoundationEssentials

/// Opens the configured store, the one place that knows which: the SQLite file by default
/// (`VQ_DB_PATH`). It owns migration: `migrate()` brings the schema up to date once per process
/// (safe when every process of every binary starts at once), and `open()` then only connects, as
/// each worker thread does.
public struct JobStoreFactory: Sendable {
    public let configuration: VisionQueueConfiguration

    public init(configuration: VisionQueueConfiguration) {
        self.configuration = configuration
    }

    /// Brings the schema up to date; a schema newer than this build stops the caller.
    public func migrate() throws {
        try FileManager.default.createParentDirectory(of: configuration.databasePath)
        _ = try SQLJobStore.sqlite(
            path: configuration.databasePath, durability: configuration.durability,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis), migrating: true)
    }

    /// A connection for one thread, on a schema `migrate()` brought up to date.
    public func open() throws(StoreError) -> JobStore {
        try SQLJobStore.sqlite(
            path: configuration.databasePath, durability: configuration.durability,
            busyTimeoutMillis: Int32(configuration.busyTimeoutMillis), migrating: false)
    }
}
