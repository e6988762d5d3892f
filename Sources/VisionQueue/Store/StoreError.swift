/// Failures of the storage layer, typed so that endpoints can map them to an HTTP status.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database stayed locked past the busy timeout and every retry: the client may try again.
    case busy
    /// Anything else the database reported; a bug or a broken disk, never the client's fault.
    case database(code: Int32, message: String)
    /// A stored row holds a value this build cannot read (a hand edit, a bug, a broken disk): the
    /// caller sees it rather than a value made up in its place.
    case corruptRow(String)
    /// The schema on disk is newer than this binary understands.
    case schemaTooNew(found: Int, supported: Int)

    public var description: String {
        switch self {
        case .busy: "database is busy"
        case .database(let code, let message): "sqlite error \(code): \(message)"
        case .corruptRow(let what): "corrupt row: \(what)"
        case .schemaTooNew(let found, let supported): "database schema version \(found) is newer than this build supports (\(supported))"
        }
    }
}
