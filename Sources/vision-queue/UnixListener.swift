import Foundation
import VisionQueue

/// Listening unix sockets owned by the supervisor and lent to the FastCGI binaries.
enum UnixListener {
    /// Binds and listens at `path` (replacing a stale socket file). The descriptor is close-on-exec
    /// and numbered 10 or above, so it reaches only the child it is explicitly handed to, as fd 3.
    static func listen(at path: String, mode: mode_t = 0o660, backlog: Int32 = 1024) throws -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConfigurationError("socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw ConfigurationError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Foundation.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ConfigurationError("cannot listen on \(path): \(reason)")
        }
        chmod(path, mode)
        let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
        close(fd)
        guard high >= 0 else { throw ConfigurationError("fcntl(F_DUPFD_CLOEXEC) failed") }
        return high
    }
}
