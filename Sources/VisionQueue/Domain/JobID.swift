
/// A job's identifier: a lowercase RFC 4122 UUID string.
///
/// Kept as a validated string rather than `Foundation.UUID` because it crosses SQL, JSON and URLs
/// as text everywhere; validating once at the edge keeps every later use allocation-free.
public struct JobID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts the canonical 8-4-4-4-12 hexadecimal form in either case; stores it lowercased.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return nil }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return nil }
            default:
                guard byte.isHexDigit else { return nil }
            }
        }
        rawValue = String(decoding: bytes.map { $0.lowercasedASCII }, as: UTF8.self)
    }

    /// A new job id, time-ordered (`UUIDv7`): inserts land at the end of every index keyed by
    /// it, so creating a job costs the same with a million finished jobs in the table as with none.
    public static func timeOrdered(now: EpochMillis = Clock.now()) -> JobID {
        JobID(UUIDv7.make(now: now))!
    }

    public var description: String { rawValue }
}

extension UInt8 {
    var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }

    var lowercasedASCII: UInt8 { (0x41...0x5A).contains(self) ? self + 0x20 : self }
}
