
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

    /// A new identifier: a version 7 UUID (RFC 9562), 48 bits of milliseconds then 74 random
    /// bits. Time-ordered ids keep inserts at the end of every index keyed by them, so creating a
    /// job costs the same with a million finished jobs in the table as with none.
    public static func random(now: EpochMillis = Clock.now()) -> JobID {
        var bytes = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        let random = (generator.next(), generator.next())  // two reads of the kernel's generator, not ten
        for index in 6..<14 { bytes[index] = UInt8(truncatingIfNeeded: random.0 >> (8 * UInt64(index - 6))) }
        for index in 14..<16 { bytes[index] = UInt8(truncatingIfNeeded: random.1 >> (8 * UInt64(index - 14))) }
        let millis = UInt64(max(0, now))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - UInt64(index)))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 4122 variant
        let hex = Array(bytes.hexString.utf8)
        let text = [hex[0..<8], hex[8..<12], hex[12..<16], hex[16..<20], hex[20..<32]].joined(separator: [UInt8(ascii: "-")])
        return JobID(String(decoding: Array(text), as: UTF8.self))!
    }

    public var description: String { rawValue }
}

extension UInt8 {
    var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }

    var lowercasedASCII: UInt8 { (0x41...0x5A).contains(self) ? self + 0x20 : self }
}
