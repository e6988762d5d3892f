import Glibc

/// Line-oriented logging to standard error, one `write` per line so threads never interleave.
///
/// Deliberately tiny: the binaries run under a supervisor (the run command, systemd) that owns
/// log files and rotation. Secrets are never passed to it. `VQ_LOG_FORMAT=json` writes one JSON
/// object per line instead, for log shippers, with the job and category a line is about as fields.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var label: String
    public var minimum: Level
    public var format: Format
    /// The job a line is about, and its category: fields of their own in JSON.
    public var jobID: String?
    public var category: String?

    public init(label: String, minimum: Level = .info, format: Format = .text) {
        self.label = label
        self.minimum = minimum
        self.format = format
    }

    /// The same logger, its lines about `job` (and `category`).
    public func about(job: JobID, category: VisionCategory? = nil) -> Logger {
        var copy = self
        copy.jobID = job.rawValue
        copy.category = category?.key
        return copy
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    private func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= minimum else { return }
        var bytes = line(level, message(), now: Clock.now(), pid: getpid())
        bytes.withUnsafeMutableBytes { buffer in
            _ = Glibc.write(2, buffer.baseAddress, buffer.count)
        }
    }

    /// One line, newline included.
    func line(_ level: Level, _ message: String, now: EpochMillis, pid: Int32) -> [UInt8] {
        switch format {
        case .text:
            return Array("\(ISO8601.format(now)) \(label)[\(pid)] \(level): \(message)\n".utf8)
        case .json:
            var json = JSONWriter(capacity: 256)
            json.object { json in
                json.timestampField("time", now)
                json.field("level", "\(level)")
                json.field("binary", label)
                json.field("pid", Int(pid))
                json.field("message", message)
                if let jobID { json.field("jobId", jobID) }
                if let category { json.field("category", category) }
            }
            return json.bytes + [UInt8(ascii: "\n")]
        }
    }
}
