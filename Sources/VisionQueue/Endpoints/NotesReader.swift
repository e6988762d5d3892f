
/// Reads the user's notes from a create request's `{"answers": {...}}` (the API's name for them),
/// refusing anything it does not understand: unknown keys, non-string notes, notes over the length
/// limit, NUL and control characters.
public struct NotesReader: Sendable {
    public var maxCharacters: Int

    public init(maxCharacters: Int) { self.maxCharacters = maxCharacters }

    public func notes(from body: [String: JSONValue]) throws(APIError) -> [VisionCategory: String] {
        for key in body.keys where key != "answers" {
            throw .badRequest("Unknown field '\(key)'. The body is {\"answers\": {...}}.", code: "unknown_field")
        }
        guard let value = body["answers"] else {
            throw .badRequest("answers is required: an object with any of the 12 category keys.", code: "missing_answers")
        }
        guard case .object(let object) = value else {
            throw .badRequest("answers must be an object, not \(value.typeName).", code: "invalid_answers")
        }
        var notes: [VisionCategory: String] = [:]
        for (key, value) in object {
            guard let category = VisionCategory(rawValue: key) else {
                let known = VisionCategory.allCases.map(\.key).joined(separator: ", ")
                throw .badRequest("Unknown category '\(key)'. Known: \(known).", code: "unknown_category")
            }
            let text = try note(value, field: "answers.\(key)")
            if !text.isEmpty { notes[category] = text }
        }
        return notes
    }

    /// One category's notes, trimmed (empty when only white space): a string within the length
    /// limit without control characters. `field` names it in the error.
    public func note(_ value: JSONValue, field: String) throws(APIError) -> String {
        guard case .string(let text) = value else {
            throw .badRequest("\(field) must be a string, not \(value.typeName).", code: "invalid_answer")
        }
        // Unicode scalars, not Characters: 5,000 combining marks on one letter are one Character
        // but still 5,000 scalars of text to store and send to the generator.
        guard text.unicodeScalars.count <= maxCharacters else {
            throw .badRequest("\(field) is longer than \(maxCharacters) characters.", code: "answer_too_long")
        }
        guard !text.unicodeScalars.contains(where: Self.isForbidden) else {
            throw .badRequest("\(field) contains a control character.", code: "invalid_answer")
        }
        return text.trimmed
    }

    /// Control characters other than tab, newline and carriage return; they have no place in notes
    /// and NUL in particular truncates text in C libraries downstream.
    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00..<0x20, 0x7F..<0xA0: true
        default: false
        }
    }
}
