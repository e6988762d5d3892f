import Testing
@testable import VisionQueue

@Suite("JSONWriter")
struct JSONWriterTests {
    private func quoted(_ value: String) -> String {
        var writer = JSONWriter()
        writer.string(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test(arguments: [
        ("say \"hi\"", #""say \"hi\"""#),
        (#"C:\dir"#, #""C:\\dir""#),
        ("line\nbreak\rreturn\ttab", #""line\nbreak\rreturn\ttab""#),
        ("\u{0}\u{1}\u{8}\u{C}\u{1F}\u{7F}", #""\u0000\u0001\u0008\u000c\u001f\u007f""#),
        ("<script>alert(1)&</script>", #""\u003cscript\u003ealert(1)\u0026\u003c/script\u003e""#),
        ("héllo 😀 /", "\"héllo 😀 /\""),
        ("", "\"\""),
    ])
    func escapesStrings(_ input: String, _ expected: String) {
        #expect(quoted(input) == expected)
    }

    static let trickyStrings: [String] = [
        "", "plain", "\"", "\\", "\\\"", "\"\\\"", "</script>", "<!--", "a&b", "\u{0}", "\u{1F}", "\u{7F}",
        "tab\there", "crlf\r\n", "\u{8}\u{C}", "😀", "👨‍👩‍👧", "e\u{301}", "\u{2028}\u{2029}", "日本語", "\u{FFFD}",
        "\u{10FFFF}", "\\u0041", "/", String(repeating: "x\"<", count: 500),
    ]

    @Test(arguments: trickyStrings)
    func roundTripsThroughTheParser(_ text: String) throws {
        var writer = JSONWriter()
        writer.object { json in
            json.field("value", text)
            json.key(escaping: text)
            json.string("as a key")
            json.key("list")
            json.array { $0.string(text); $0.string(text) }
        }
        let parsed = try JSONParser.parse(writer.bytes)
        #expect(
            parsed
                == .object([
                    "value": .string(text), text: .string("as a key"), "list": .array([.string(text), .string(text)]),
                ]))
    }

    @Test func writesCommasAndNestingCorrectly() throws {
        var writer = JSONWriter()
        writer.object { json in
            json.field("a", 1)
            json.field("b", nil as String?)
            json.key("c")
            json.array { array in
                array.object { $0.field("x", true) }
                array.object { $0.field("y", false); $0.field("z", -5) }
                array.array { _ in }
                array.int(nil)
            }
            json.key("d")
            json.object { $0.field("e", "f") }
            json.key("empty")
            json.object { _ in }
            json.field("g", nil as Int?)
        }
        let text = String(decoding: writer.bytes, as: UTF8.self)
        #expect(text == #"{"a":1,"b":null,"c":[{"x":true},{"y":false,"z":-5},[],null],"d":{"e":"f"},"empty":{},"g":null}"#)
        #expect(throws: Never.self) { try JSONParser.parse(writer.bytes) }
    }

    @Test func timestampsAreISO8601OrNull() {
        var writer = JSONWriter()
        writer.object { json in
            json.timestampField("at", 1_700_000_000_123)
            json.timestampField("never", nil)
        }
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"at":"2023-11-14T22:13:20.123Z","never":null}"#)
    }
}
