/// The user's notes as a job stores them: a JSON object of category keys to text. A codec of the
/// domain, not of a store: every store keeps the same text in its `input` column.
public enum StoredNotes {
    public static func encode(_ notes: [VisionCategory: String]) -> String {
        var writer = JSONWriter()
        writer.object { json in
            for category in VisionCategory.allCases {
                if let text = notes[category] {
                    json.key(escaping: category.key)
                    json.string(text)
                }
            }
        }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Stored notes that do not read back: a hand edit, a bug or a broken disk (a store reports
    /// it as a corrupt row).
    public struct Unreadable: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public static func decode(_ stored: String) throws(Unreadable) -> [VisionCategory: String] {
        guard let object = try? JSONParser.parse(Array(stored.utf8)).objectValue else {
            throw Unreadable(description: "a job's notes are not a JSON object")
        }
        var notes: [VisionCategory: String] = [:]
        for (key, value) in object {
            guard let category = VisionCategory(rawValue: key), let text = value.stringValue else {
                throw Unreadable(description: "a job's notes hold '\(key.prefix(64))', not a category's text")
            }
            notes[category] = text
        }
        return notes
    }
}
