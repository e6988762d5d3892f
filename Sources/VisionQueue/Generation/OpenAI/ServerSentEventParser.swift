/// Splits a `text/event-stream` body into its events' data, as bytes arrive in any pieces.
///
/// Follows the HTML living standard's parsing rules as far as chat-completion streams use them:
/// lines end in LF, CR LF or CR; `data:` lines (one optional space after the colon) accumulate,
/// joined by LF; a blank line ends the event; comment lines (`:`), `event:`, `id:` and `retry:`
/// are read and dropped. A line longer than `maxLineBytes` is a malformed stream, not a reason to
/// grow without bound.
struct ServerSentEventParser {
    struct Malformed: Error, Equatable {
        var reason: String
    }

    let maxLineBytes: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// The last byte was CR: an LF right after it ends the same line.
    private var afterCarriageReturn = false

    init(maxLineBytes: Int = 1 << 20) { self.maxLineBytes = maxLineBytes }

    /// Feeds the next bytes; answers the data of every event they completed, in order.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(Malformed) -> [String] {
        var events: [String] = []
        for byte in bytes {
            if afterCarriageReturn {
                afterCarriageReturn = false
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0A, 0x0D:
                afterCarriageReturn = byte == 0x0D
                if let event = endLine() { events.append(event) }
            default:
                guard line.count < maxLineBytes else { throw Malformed(reason: "an event line longer than \(maxLineBytes) bytes") }
                line.append(byte)
            }
        }
        return events
    }

    /// The stream ended: an event still being read is dropped, as the standard says.
    var hasUnfinishedEvent: Bool { hasData || !line.isEmpty }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasData else { return nil }
            defer {
                data.removeAll(keepingCapacity: true)
                hasData = false
            }
            return String(decoding: data, as: UTF8.self)
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var value = colon < line.endIndex ? line.index(after: colon) : colon
        if value < line.endIndex && line[value] == UInt8(ascii: " ") { value = line.index(after: value) }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: line[value...])
        hasData = true
        return nil
    }
}
