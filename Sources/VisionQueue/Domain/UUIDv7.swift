/// Version 7 UUIDs (RFC 9562): 48 bits of milliseconds, then 74 random bits. Ids made later sort
/// later, which keeps B-tree inserts at the right edge; jobs and visions are named with them.
public enum UUIDv7 {
    /// A new UUID for the time `now`, in the lowercase 8-4-4-4-12 form.
    public static func make(now: EpochMillis = Clock.now()) -> String {
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
        return String(decoding: Array(text), as: UTF8.self)
    }
}
