import Glibc

/// Line-oriented logging to standard error, one `write` per line so threads never interleave.
///
/// Deliberately tiny: the binaries run under a supervisor (the run command, systemd) that owns
/// log files and rotation. Secrets are never passed to it.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var label: String
    public var minimum: Level

    public init(label: String, minimum: Level = .info) {
        self.label = label
        self.minimum = minimum
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    private func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= minimum else { return }
        let line = "\(ISO8601.format(Clock.now())) \(label)[\(getpid())] \(level): \(message())\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            _ = Glibc.write(2, buffer.baseAddress, buffer.count)
        }
    }
}
