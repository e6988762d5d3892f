import Foundation

/// Speaks FastCGI to a binary's unix socket directly, bypassing nginx: to send what nginx never
/// would (huge declared bodies, odd parameters, broken records) and see the binary hold up.
struct FastCGIClient: Sendable {
    var socketPath: String

    struct Response: Sendable {
        /// The CGI-style output: "Status: ...\r\nheaders\r\n\r\nbody".
        var stdout: [UInt8]
        var status: Int? {
            let text = String(decoding: stdout.prefix(64), as: UTF8.self)
            guard text.hasPrefix("Status: ") else { return nil }
            return Int(text.dropFirst(8).prefix(3))
        }
        var body: String {
            guard let range = stdout.firstRange(of: [13, 10, 13, 10]) else { return "" }
            return String(decoding: stdout[range.upperBound...], as: UTF8.self)
        }
    }

    /// A well-formed request: BEGIN_REQUEST, PARAMS, STDIN.
    func request(params: [(String, String)], body: [UInt8] = [], timeoutSeconds: Int = 10) throws -> Response {
        var bytes = Self.record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])  // role responder, no keep-conn
        var encoded: [UInt8] = []
        for (name, value) in params { encoded += Self.length(name.utf8.count) + Self.length(value.utf8.count) + Array(name.utf8) + Array(value.utf8) }
        for chunk in Self.chunks(encoded) { bytes += Self.record(type: 4, content: chunk) }
        bytes += Self.record(type: 4, content: [])
        for chunk in Self.chunks(body) { bytes += Self.record(type: 5, content: chunk) }
        bytes += Self.record(type: 5, content: [])
        return try exchange(bytes, timeoutSeconds: timeoutSeconds)
    }

    /// Sends raw bytes (possibly not FastCGI at all) and reads whatever comes back until the
    /// binary closes the connection or the timeout passes.
    func exchange(_ bytes: [UInt8], timeoutSeconds: Int = 10) throws -> Response {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClient.Failure(description: "socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: socketPath.utf8)
            buffer[socketPath.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw HTTPClient.Failure(description: "cannot connect to \(socketPath)") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }  // the binary may answer (413) and close before reading it all
            offset += written
        }
        shutdown(fd, Int32(SHUT_WR))
        var raw: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            raw.append(contentsOf: buffer[0..<count])
        }
        return Response(stdout: Self.stdout(of: raw))
    }

    static func record(type: UInt8, requestID: UInt16 = 1, content: [UInt8]) -> [UInt8] {
        let padding = (8 - content.count % 8) % 8
        return [1, type, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF),
                UInt8(padding), 0] + content + [UInt8](repeating: 0, count: padding)
    }

    static func length(_ count: Int) -> [UInt8] {
        count < 128 ? [UInt8(count)]
            : [UInt8((count >> 24) & 0x7F) | 0x80, UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
    }

    static func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: 65_535).map { Array(bytes[$0..<min($0 + 65_535, bytes.count)]) }
    }

    /// The concatenated content of every STDOUT record.
    static func stdout(of raw: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while index + 8 <= raw.count {
            let type = raw[index + 1]
            let length = Int(raw[index + 4]) << 8 | Int(raw[index + 5])
            let padding = Int(raw[index + 6])
            let start = index + 8
            guard start + length <= raw.count else { break }
            if type == 6 { output += raw[start..<start + length] }
            index = start + length + padding
        }
        return output
    }
}
