import Testing
@testable import VisionQueue

@Suite("JSONParser")
struct JSONParserTests {
    private func parse(_ text: String, maxDepth: Int = 16) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// The parser's failure for `bytes`, or nil when it (wrongly) accepted them.
    private func failure(_ bytes: [UInt8], maxDepth: Int = 16) -> JSONParser.Failure? {
        do {
            _ = try JSONParser.parse(bytes, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    private func failure(_ text: String, maxDepth: Int = 16) -> JSONParser.Failure? {
        failure(Array(text.utf8), maxDepth: maxDepth)
    }

    // MARK: Valid documents

    @Test func parsesANestedDocument() throws {
        let value = try parse(
            #" { "name": "Ada", "age": 36, "tags": ["a", true, false, null], "nested": {"x": -1.5e3}, "empty": {}, "none": [] } "#)
        #expect(
            value
                == .object([
                    "name": .string("Ada"),
                    "age": .number("36"),
                    "tags": .array([.string("a"), .bool(true), .bool(false), .null]),
                    "nested": .object(["x": .number("-1.5e3")]),
                    "empty": .object([:]),
                    "none": .array([]),
                ]))
    }

    @Test(arguments: ["0", "-0", "7", "12.50", "1E+2", "-3e-7", "0.001", "123456789012345678901234567890"])
    func numbersKeepTheirSourceText(_ text: String) throws {
        #expect(try parse(text) == .number(text))
    }

    @Test func hugeNumbersAreKeptAsTextNotRoundedOrTrapped() throws {
        #expect(try parse("1e999999") == .number("1e999999"))
        #expect(try parse(#"{"fun": -1e999999}"#) == .object(["fun": .number("-1e999999")]))
    }

    @Test func scalarsAndWhitespaceAtTopLevel() throws {
        #expect(try parse(" \t\r\n\"x\"\n ") == .string("x"))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("null") == .null)
    }

    // MARK: Strings and escapes

    @Test func escapesDecode() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u00E9\u20AC""#) == .string("Aéé€"))
        #expect(try parse(#""nul:\u0000.""#) == .string("nul:\u{0}."))
    }

    @Test func surrogatePairDecodesToOneScalar() throws {
        let value = try parse(#""smile \ud83d\ude00!""#)
        #expect(value == .string("smile 😀!"))
        #expect(value.stringValue?.unicodeScalars.map(\.value) == [0x73, 0x6D, 0x69, 0x6C, 0x65, 0x20, 0x1F600, 0x21])
    }

    @Test func rawMultibyteUTF8IsKept() throws {
        #expect(try parse(#"{"héllo": "wörld 😀 日本"}"#) == .object(["héllo": .string("wörld 😀 日本")]))
    }

    @Test(arguments: [
        #""\ud83d""#,  // high surrogate at end of string
        #""\ude00""#,  // low surrogate alone
        #""\ud83d\u0041""#,  // high followed by a non-surrogate
        #""\ud83d\ud83d""#,  // high followed by high
        #""\ud83dx""#,  // high followed by a plain character
        #""\ud83d\n""#,  // high followed by another escape
    ])
    func rejectsLoneSurrogates(_ text: String) {
        #expect(failure(text)?.message == "lone surrogate in \\u escape")
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22],  // never valid in UTF-8
        [0x22, 0xC3, 0x22],  // truncated two-byte sequence
        [0x22, 0xC0, 0xAF, 0x22],  // overlong "/"
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // a surrogate encoded directly
        [0x22, 0x61, 0x80, 0x62, 0x22],  // stray continuation byte
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
        [0x7B, 0x22, 0xFE, 0x22, 0x3A, 0x31, 0x7D],  // in a key: {"\xFE":1}
    ] as [[UInt8]])
    func rejectsInvalidUTF8InsideStrings(_ document: [UInt8]) {
        #expect(failure(document)?.message == "string is not valid UTF-8")
    }

    @Test(arguments: [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1B, 0x1F] as [UInt8])
    func rejectsRawControlCharactersInStrings(_ control: UInt8) {
        let document: [UInt8] = [0x22, 0x61, control, 0x62, 0x22]
        #expect(failure(document)?.message == "unescaped control character in string")
    }

    @Test func acceptsRawDEL() throws {
        // RFC 8259 only requires escaping below U+0020; rejecting DEL would refuse valid requests.
        #expect(try JSONParser.parse([0x22, 0x7F, 0x22]) == .string("\u{7F}"))
    }

    // MARK: Structure rules

    @Test func rejectsDuplicateKeysNamingTheKey() {
        let nested = failure(#"{"answers": {"fun": "a", "health": "b", "fun": "c"}}"#)
        #expect(nested?.message == #"duplicate key "fun""#)
        let topLevel = failure(#"{"answers": {}, "answers": {"fun": "x"}}"#)
        #expect(topLevel?.message.contains(#""answers""#) == true)
        // The offset points at the repeated key, so the message says where.
        #expect(failure(#"{"a":1,"a":2}"#)?.offset == 7)
    }

    @Test func keysThatDifferOnlyInEscapingAreStillDuplicates() {
        #expect(failure(#"{"fun": "a", "f\u0075n": "b"}"#)?.message == #"duplicate key "fun""#)
    }

    @Test func depthUpToMaxDepthIsAccepted() throws {
        let arrays = String(repeating: "[", count: 16) + String(repeating: "]", count: 16)
        #expect(throws: Never.self) { try parse(arrays) }
        let objects = String(repeating: #"{"a":"#, count: 16) + "1" + String(repeating: "}", count: 16)
        #expect(throws: Never.self) { try parse(objects) }
    }

    @Test func depthBeyondMaxDepthIsRejected() {
        let arrays = String(repeating: "[", count: 17) + String(repeating: "]", count: 17)
        #expect(failure(arrays)?.message == "JSON nested deeper than 16 levels")
        let objects = String(repeating: #"{"a":"#, count: 17) + "1" + String(repeating: "}", count: 17)
        #expect(failure(objects)?.message == "JSON nested deeper than 16 levels")
        #expect(failure(#"{"a":[{}]}"#, maxDepth: 2)?.message == "JSON nested deeper than 2 levels")
        #expect(failure(#"{"a":[1]}"#, maxDepth: 2) == nil)
    }

    @Test func veryDeepInputFailsInsteadOfOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(failure(deep)?.message == "JSON nested deeper than 16 levels")
    }

    @Test(arguments: ["1 2", "{} x", "[]]", "\"a\"\"b\"", "null,", "0 0"])
    func rejectsTrailingData(_ text: String) {
        #expect(failure(text)?.message == "unexpected data after the JSON value")
    }

    @Test func rejectsLeadingZeros() {
        #expect(failure("01") != nil)
        #expect(failure("-01") != nil)
        #expect(failure("[00]") != nil)
        #expect(failure(#"{"a": 012}"#) != nil)
    }

    @Test(arguments: ["-", "-a", "- 1", "1.", "1.e3", "1e", "1e+", ".5", "+1", "0x10", "NaN", "Infinity", "-Infinity"])
    func rejectsMalformedNumbers(_ text: String) {
        #expect(failure(text) != nil)
    }

    @Test(arguments: [
        "", "   ", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "{a:1}", "{'a':1}", "[1 2]", #"{"a":1 "b":2}"#,
        "tru", "nul", "truex", "True", #""\x""#, #""\u12""#, #""\u12G4""#, "[", "{", "]", "}", ",", ":",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(failure(text) != nil)
    }

    @Test func rejectsEveryTruncationOfAValidDocument() throws {
        let document = #"{"answers":{"fun":"caf\u00e9 \ud83d\ude00","n":[1.5e3,true,null,false]}}"#
        let full = Array(document.utf8)
        #expect(throws: Never.self) { try JSONParser.parse(full) }
        for length in 0..<full.count {
            #expect(failure(Array(full.prefix(length))) != nil, "accepted a document cut after \(length) bytes")
        }
    }

    @Test func failureOffsetPointsAtTheProblem() {
        #expect(failure("[1, x]")?.offset == 4)
        #expect(failure("[1, x]")?.message == "unexpected character")
    }
}
