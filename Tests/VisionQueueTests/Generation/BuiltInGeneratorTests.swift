import Testing
@testable import VisionQueue

@Suite("BuiltInGenerator")
struct BuiltInGeneratorTests {
    let generator = BuiltInGenerator(delayMillis: 0)

    private func write(_ category: VisionCategory, _ notes: String) throws -> String {
        try generator.write(GenerationRequest(category: category, notes: notes, deadline: Clock.now() + 60_000))
    }

    @Test func isDeterministic() throws {
        let notes = "I want to run a marathon; sleep well. Eat greens!"
        let first = try write(.health, notes)
        #expect(try write(.health, notes) == first)
        #expect(try BuiltInGenerator(delayMillis: 0).write(
            GenerationRequest(category: .health, notes: notes, attempt: 3, deadline: Clock.now() + 1)) == first)
    }

    @Test func mentionsTheUsersNotes() throws {
        let text = try write(.travel, "Visit Japan in spring\nTake the night train to Vienna\nA week in the mountains")
        // Notes that start with a verb become things I do; others are kept as written.
        #expect(text.contains("I visit Japan in spring."))
        #expect(text.contains("I take the night train to Vienna."))
        #expect(text.contains("A week in the mountains is part of my life."))
    }

    @Test func turnsWishesIntoPresentTense() throws {
        let text = try write(.health, "I want to run a marathon")
        #expect(text.contains("I run a marathon."))
        #expect(!text.lowercased().contains("want to"))
    }

    @Test(arguments: [
        ("I want to run a marathon", "I run a marathon"),
        ("i want to run a marathon", "I run a marathon"),
        ("I'd like to travel more", "I travel more"),
        ("I would like to learn piano", "I learn piano"),
        ("I will learn Spanish", "I learn Spanish"),
        ("I'll cook on Sundays", "I cook on Sundays"),
        ("I hope to write a book", "I write a book"),
        ("I plan to retire early", "I retire early"),
        ("Want to see the ocean", "I see the ocean"),
        ("to sleep eight hours", "I sleep eight hours"),
        ("I cook every Sunday", "I cook every Sunday"),
        ("a garden full of tomatoes", "A garden full of tomatoes is part of my life"),
    ])
    func presentTense(_ note: String, _ expected: String) {
        #expect(BuiltInGenerator.presentTense(note) == expected)
    }

    @Test(arguments: VisionCategory.allCases)
    func emptyNotesStillGiveAParagraph(_ category: VisionCategory) throws {
        let text = try write(category, "")
        #expect(text.count > 100)
        #expect(text.hasSuffix("."))
        #expect(try write(category, "  \n ; . ! ? ") == text, "notes with no words count as empty")
    }

    @Test func emptyNotesReadDifferentlyPerCategory() throws {
        let paragraphs = try Set(VisionCategory.allCases.map { try write($0, "") })
        #expect(paragraphs.count == 12)
    }

    @Test func usesAtMostEightNotes() throws {
        let notes = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliett"].joined(separator: ". ")
        let text = try write(.fun, notes)
        #expect(text.contains("Hotel is part of my life."))
        #expect(!text.contains("India"))
    }
}
