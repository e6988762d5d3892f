import Testing
import VisionQueue

@Suite("The notes a job stores")
struct StoredNotesTests {
    @Test("Any text survives the round trip, in category order")
    func roundTrip() throws {
        let notes: [VisionCategory: String] = [.travel: "Kyoto \"in spring\"\n\u{1F338}", .fun: "", .money: "\\ and \u{0}"]
        let stored = StoredNotes.encode(notes)
        #expect(stored.hasPrefix("{\"fun\":\"\""), "ordered by category: \(stored)")
        #expect(try StoredNotes.decode(stored) == notes)
    }

    @Test("A stored value that is not a category's text is a corrupt row, never dropped or guessed", arguments: [
        "", "[]", "{\"fun\": 3}", "{\"nonsense\": \"x\"}", "{\"fun\": \"a\"",
    ])
    func corrupt(_ stored: String) {
        #expect(throws: StoredNotes.Unreadable.self) { try StoredNotes.decode(stored) }
    }
}
