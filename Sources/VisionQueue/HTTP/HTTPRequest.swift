/// One request as an endpoint sees it, independent of how it arrived (FastCGI in production,
/// a plain value in unit tests).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, e.g. `/api/vision-jobs/status`.
    public var path: String
    /// The raw query string, without `?`.
    public var query: String
    /// The listed headers the request carried.
    public var headers: [HTTPHeader: String]
    public var body: [UInt8]
    /// Set when the declared body length exceeded the reader's limit: the body was not read.
    public var bodyTooLarge: Bool

    public init(
        method: String, path: String, query: String = "", headers: [HTTPHeader: String] = [:],
        body: [UInt8] = [], bodyTooLarge: Bool = false
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }

    public func header(_ name: HTTPHeader) -> String? { headers[name] }

    /// The decoded query parameters. A parameter given twice yields `nil` for that name (see
    /// `queryValue`), so `?jobId=a&jobId=b` cannot mean different things to different readers.
    public var queryItems: [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.percentDecode(parts[0]) ?? ""
            let value = parts.count > 1 ? (Self.percentDecode(parts[1]) ?? "\u{FFFD}") : ""
            return (name, value)
        }
    }

    /// The single value of a query parameter; throws 400 when it is repeated.
    public func queryValue(_ name: String) throws(APIError) -> String? {
        let values = queryItems.filter { $0.name == name }
        guard values.count <= 1 else { throw .badRequest("Query parameter '\(name)' is given more than once.") }
        return values.first?.value
    }

    /// A query parameter's value read as a whole number from 1; nil when it is not one. The API
    /// description allows any size, so digits past `Int64.max` read as `Int64.max` (no version,
    /// time or count is that large: the answer is then "none", not a 400 for a valid request).
    public static func wholeNumberFromOne(_ text: String) -> Int64? {
        if let number = Int64(text) { return number >= 1 ? number : nil }
        // Only digits, yet not an Int64: too large (and so from 1) rather than malformed.
        let digits = text.hasPrefix("+") ? text.utf8.dropFirst() : text.utf8[...]
        guard !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int64.max
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
