/// When a commit counts as done: SQLite's `synchronous` setting, as `VQ_SYNCHRONOUS` names it.
///
/// Only the two levels that are safe in WAL mode are offered, and a value outside them is refused
/// rather than read as one of them: a typo must not quietly change what a `201` promises.
public enum SQLiteDurability: String, Sendable, CaseIterable {
    /// Every commit is on disk before its writer returns: a `201` survives a power cut.
    case full = "FULL"
    /// Commits survive any process crash but the last ones may be lost on power loss.
    case normal = "NORMAL"

    /// Reads a setting's value, in any letter case; nil for anything else.
    public init?(setting: String) {
        self.init(rawValue: setting.uppercased())
    }

    /// Whether a durable writer waits for the write-ahead log to reach the disk.
    var syncsLog: Bool { self == .full }
}
