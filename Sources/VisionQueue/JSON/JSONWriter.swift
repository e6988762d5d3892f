/// Writes JSON straight into a byte buffer.
///
/// Responses are small, flat and on the hot path of every poll; writing them directly costs a
/// fraction of building a dictionary for `JSONEncoder` and keeps key order stable for clients
/// and tests.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 4096) { bytes.reserveCapacity(capacity) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"key":` ; the value call that follows must not add a comma. Keys are literals
    /// that need no escaping, so they are copied as they are.
    public mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    /// A key that is not a literal (it is escaped like any string).
    public mutating func key(escaping key: String) {
        separate()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String?) {
        separate()
        if let value { appendQuoted(value) } else { appendRaw("null") }
        needsComma = true
    }

    public mutating func int(_ value: Int?) {
        separate()
        if let value {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            var magnitude = value.magnitude
            var digits: [UInt8] = []
            repeat {
                digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: digits.reversed())
        } else {
            appendRaw("null")
        }
        needsComma = true
    }

    /// A finite number in Swift's shortest round-trip form; null when not finite (JSON has no NaN).
    public mutating func number(_ value: Double?) {
        separate()
        if let value, value.isFinite {
            appendRaw(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : value.description)
        } else {
            appendRaw("null")
        }
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        appendRaw(value ? "true" : "false")
        needsComma = true
    }

    /// An ISO 8601 UTC timestamp with milliseconds, or null.
    public mutating func timestamp(_ millis: EpochMillis?) {
        separate()
        if let millis {
            bytes.append(UInt8(ascii: "\""))
            ISO8601.append(millis, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            appendRaw("null")
        }
        needsComma = true
    }

    /// Convenience for `key(k)` followed by a value write.
    public mutating func field(_ key: StaticString, _ value: String?) { self.key(key); string(value) }
    public mutating func field(_ key: StaticString, _ value: Int?) { self.key(key); int(value) }
    public mutating func field(_ key: StaticString, _ value: Bool) { self.key(key); bool(value) }
    public mutating func timestampField(_ key: StaticString, _ value: EpochMillis?) { self.key(key); timestamp(value) }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendRaw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            // Copy runs that need no escaping in one go; most text is one run.
            var runStart = 0
            for (index, byte) in utf8.enumerated() where Self.needsEscape[Int(byte)] {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                appendEscaped(byte)
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(0x5C); bytes.append(byte)
        case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
        default:
            // Control characters, DEL, and < > & (harmless in JSON, but escaped so a response
            // sniffed as HTML can never carry markup).
            bytes.append(contentsOf: "\\u00".utf8)
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0xF)])
        }
    }

    private static let needsEscape: [Bool] = (0..<256).map { byte in
        byte < 0x20 || byte == 0x7F || [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&")]
            .contains(UInt8(byte))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}

/// ISO 8601 formatting without Foundation's formatter objects or `gmtime_r`: plain arithmetic
/// straight into the output bytes, since a status answer carries dozens of timestamps.
public enum ISO8601 {
    public static func format(_ millis: EpochMillis) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        append(millis, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC). Dates before 1970 are clamped to the epoch.
    public static func append(_ millis: EpochMillis, to bytes: inout [UInt8]) {
        let millis = max(0, millis)
        let seconds = millis / 1000
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        digits(year, 4, &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2, &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2, &bytes)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2, &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, &bytes)
        bytes.append(UInt8(ascii: "."))
        digits(millis % 1000, 3, &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }

    private static func digits(_ value: Int64, _ width: Int, _ bytes: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
