import Glibc

/// Which process of which machine holds a claim ("host pid 1234", a category's `lease_owner`):
/// for an operator reading the table, and for a supervisor that ends a dead process's claims the
/// moment it dies.
public enum ClaimOwner {
    /// This process.
    public static let current: String = of(pid: getpid())

    /// The process `pid` of this machine.
    public static func of(pid: pid_t) -> String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host) pid \(pid)"
    }
}
