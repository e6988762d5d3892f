import Testing
@testable import VisionQueue

@Suite("NotesReader")
struct NotesReaderTests {
    let notesReader = NotesReader(maxCharacters: 20)

    private func answers(_ json: String) throws -> [VisionCategory: String] {
        try notesReader.notes(from: try #require(try JSONParser.parse(Array(json.utf8)).objectValue))
    }

    private func rejection(_ json: String) throws -> APIError? {
        let body = try #require(try JSONParser.parse(Array(json.utf8)).objectValue)
        return apiError { _ = try notesReader.notes(from: body) }
    }

    @Test func readsAnswersTrimmingSurroundingWhitespace() throws {
        let result = try answers(#"{"answers": {"fun": "  Ride bikes  ", "health": "Run\tfar\nand\r\nrest"}}"#)
        #expect(result == [.fun: "Ride bikes", .health: "Run\tfar\nand\r\nrest"])
    }

    @Test func emptyAnswersObjectIsFine() throws {
        #expect(try answers(#"{"answers": {}}"#) == [:])
    }

    @Test func whitespaceOnlyAnswersAreDropped() throws {
        #expect(try answers(#"{"answers": {"fun": "   ", "love": "\n\t\r ", "work": "", "home": "Cabin"}}"#) == [.home: "Cabin"])
    }

    @Test func everyCategoryKeyIsAccepted() throws {
        let fields = VisionCategory.allCases.map { "\"\($0.key)\": \"\($0.title)\"" }.joined(separator: ",")
        let result = try answers("{\"answers\": {\(fields)}}")
        #expect(result.count == 12)
        #expect(result[.spirituality] == "Spirituality")
    }

    @Test func lengthIsCountedInCharactersNotBytes() throws {
        #expect(try answers(#"{"answers": {"fun": "12345678901234567890"}}"#) == [.fun: "12345678901234567890"])
        let emoji = String(repeating: "😀", count: 20)
        #expect(try answers("{\"answers\": {\"fun\": \"\(emoji)\"}}") == [.fun: emoji])
    }

    static let rejections: [(String, String, String)] = [
        ("unknown top-level field", #"{"answers": {}, "extra": 1}"#, "unknown_field"),
        ("only an unknown field", #"{"answer": {"fun": "x"}}"#, "unknown_field"),
        ("missing answers", #"{}"#, "missing_answers"),
        ("answers is a string", #"{"answers": "fun"}"#, "invalid_answers"),
        ("answers is an array", #"{"answers": ["fun"]}"#, "invalid_answers"),
        ("answers is null", #"{"answers": null}"#, "invalid_answers"),
        ("answers is a number", #"{"answers": 12}"#, "invalid_answers"),
        ("unknown category key", #"{"answers": {"hobbies": "x"}}"#, "unknown_category"),
        ("category key in the wrong case", #"{"answers": {"Fun": "x"}}"#, "unknown_category"),
        ("number value", #"{"answers": {"fun": 1}}"#, "invalid_answer"),
        ("huge number value", #"{"answers": {"fun": 1e999999}}"#, "invalid_answer"),
        ("boolean value", #"{"answers": {"fun": true}}"#, "invalid_answer"),
        ("null value", #"{"answers": {"fun": null}}"#, "invalid_answer"),
        ("array value", #"{"answers": {"fun": ["x"]}}"#, "invalid_answer"),
        ("object value", #"{"answers": {"fun": {"text": "x"}}}"#, "invalid_answer"),
        ("over maxCharacters", #"{"answers": {"fun": "123456789012345678901"}}"#, "answer_too_long"),
        ("NUL", #"{"answers": {"fun": "a\u0000b"}}"#, "invalid_answer"),
        ("SOH", #"{"answers": {"fun": "a\u0001b"}}"#, "invalid_answer"),
        ("escape", #"{"answers": {"fun": "\u001b[31mred"}}"#, "invalid_answer"),
        ("unit separator", #"{"answers": {"fun": "a\u001fb"}}"#, "invalid_answer"),
        ("DEL", #"{"answers": {"fun": "a\u007fb"}}"#, "invalid_answer"),
        ("C1 control", #"{"answers": {"fun": "a\u0085b"}}"#, "invalid_answer"),
        ("control in otherwise blank answer", #"{"answers": {"fun": " \u0000 "}}"#, "invalid_answer"),
    ]

    @Test(arguments: rejections)
    func rejects(_ name: String, _ json: String, _ code: String) throws {
        let error = try #require(try rejection(json))
        #expect(error.status == 400)
        #expect(error.code == code)
    }

    @Test func theLengthLimitBoundsHowMuchTextOneAnswerCarries() throws {
        // One base letter followed by thousands of combining marks is a single Character but
        // 5,001 scalars / 10,001 bytes of text: the limit must count what is stored, not what is seen.
        let oneCharacter = "a" + String(repeating: "\u{301}", count: 5_000)
        let error = try rejection("{\"answers\": {\"fun\": \"\(oneCharacter)\"}}")
        #expect(error?.code == "answer_too_long")
    }

    @Test func messagesNameTheOffendingField() throws {
        #expect(try rejection(#"{"answers": {"travel": 5}}"#)?.message.contains("answers.travel") == true)
        #expect(try rejection(#"{"answers": {"hobbies": "x"}}"#)?.message.contains("hobbies") == true)
        #expect(try rejection(#"{"extra": 1, "answers": {}}"#)?.message.contains("extra") == true)
    }
}
