import Glibc

/// IP addresses and networks as nginx's `allow` reads them, checked before they are written into
/// its configuration: a setting can then neither break nginx's start nor add a directive.
public enum NetworkAddress {
    /// An IPv4 or IPv6 address, optionally with a prefix length (`10.0.0.0/8`, `fd00::/8`).
    public static func isAddressOrNetwork(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = parts.first.map(String.init) else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let bits: Int
        if inet_pton(AF_INET, address, &buffer) == 1 {
            bits = 32
        } else if inet_pton(AF_INET6, address, &buffer) == 1 {
            bits = 128
        } else {
            return false
        }
        guard parts.count == 2 else { return true }
        guard parts[1].allSatisfy({ $0 >= "0" && $0 <= "9" }), let prefix = Int(parts[1]) else { return false }
        return (0...bits).contains(prefix)
    }
}
