/// Failures of the storage layer, in words that mean the same on every store, so endpoints map
/// them to an HTTP status in one place (`Endpoint.respond`) whatever database is behind.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another writer kept what this one needed past every retry (SQLite's `SQLITE_BUSY`, a lock
    /// timeout, a serialization failure): nothing was written, and trying again is all it takes.
    case busy
    /// The database cannot be reached right now (a restart, a failover, a dropped connection):
    /// nothing was written; the client may try again in a moment.
    case unavailable(String)
    /// Anything else the database reported, with its own code (`SQLITE_IOERR`, SQLSTATE `XX000`):
    /// a bug or a broken disk, never the client's fault.
    case backend(code: String, message: String)
    /// A stored row holds a value this build cannot read (a hand edit, a bug, a broken disk): the
    /// caller sees it rather than a value made up in its place.
    case corruptRow(String)
    /// The schema on disk is newer than this binary understands.
    case schemaTooNew(found: Int, supported: Int)

    /// Whether the same request may succeed if sent again shortly (503 with `Retry-After`).
    public var isTransient: Bool {
        switch self {
        case .busy, .unavailable: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .busy: "the database is busy"
        case .unavailable(let reason): "the database is unavailable: \(reason)"
        case .backend(let code, let message): "database error \(code): \(message)"
        case .corruptRow(let what): "corrupt row: \(what)"
        case .schemaTooNew(let found, let supported): "database schema version \(found) is newer than this build supports (\(supported))"
        }
    }
}
