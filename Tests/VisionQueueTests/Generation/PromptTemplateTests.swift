import Foundation
import Testing
@testable import VisionQueue

@Suite("PromptTemplate")
struct PromptTemplateTests {
    private func render(_ source: String, _ values: [String: PromptTemplate.Value] = [:]) throws -> String {
        try PromptTemplate(source).render(values)
    }

    // MARK: - Variables

    @Test func variablesAreReplacedByTheirText() throws {
        #expect(try render("Write the \"{{title}}\" section about {{ category }}.", ["title": .text("Health"), "category": .text("health")])
            == "Write the \"Health\" section about health.")
    }

    @Test func aMissingVariableOrAListInItsPlaceRendersNothing() throws {
        #expect(try render("[{{missing}}]") == "[]")
        #expect(try render("[{{items}}]", ["items": .list([["a": .text("b")]])]) == "[]")
    }

    @Test func nothingIsEscaped() throws {
        let notes = "<b>Tom & Jerry</b> \"quoted\" 'single' {braces} émoji 🌍"
        #expect(try render("{{notes}}", ["notes": .text(notes)]) == notes)
    }

    @Test func aValueIsNotReadAsATemplate() throws {
        #expect(try render("{{notes}}", ["notes": .text("{{title}} {{#x}}"), "title": .text("T")]) == "{{title}} {{#x}}")
    }

    // MARK: - Sections

    @Test func aSectionOverTextIsShownOnlyWhenTheTextIsNotEmpty() throws {
        let template = try PromptTemplate("A{{#notes}} notes: {{notes}}{{/notes}} B")
        #expect(template.render(["notes": .text("run daily")]) == "A notes: run daily B")
        #expect(template.render(["notes": .text("")]) == "A B")
        #expect(template.render(["notes": .text(" \n\t")]) == "A B")
        #expect(template.render([:]) == "A B")
    }

    @Test func anInvertedSectionIsShownOnlyWhenEmptyOrMissing() throws {
        let template = try PromptTemplate("{{^notes}}No notes.{{/notes}}{{#notes}}Notes: {{notes}}{{/notes}}")
        #expect(template.render([:]) == "No notes.")
        #expect(template.render(["notes": .text("  ")]) == "No notes.")
        #expect(template.render(["notes": .list([])]) == "No notes.")
        #expect(template.render(["notes": .text("swim")]) == "Notes: swim")
    }

    @Test func aListRepeatsItsSectionForEachItemInOrder() throws {
        let template = try PromptTemplate("{{#others}}[{{title}}: {{notes}}]{{/others}}{{^others}}none{{/others}}")
        let others: PromptTemplate.Value = .list([
            ["title": .text("Fun"), "notes": .text("Dance")],
            ["title": .text("Travel"), "notes": .text("Japan")],
        ])
        #expect(template.render(["others": others]) == "[Fun: Dance][Travel: Japan]")
        #expect(template.render(["others": .list([])]) == "none")
    }

    @Test func insideAListItemNamesFallBackToTheOuterScope() throws {
        let template = try PromptTemplate("{{#items}}{{title}} of {{owner}}; {{/items}}{{title}}")
        let values: [String: PromptTemplate.Value] = [
            "owner": .text("Ada"), "title": .text("Outer"),
            "items": .list([["title": .text("One")], ["title": .text("Two"), "owner": .text("Bob")]]),
        ]
        // An item's own name wins; the outer scope is seen again after the list.
        #expect(template.render(values) == "One of Ada; Two of Bob; Outer")
    }

    @Test func sectionsNest() throws {
        let template = try PromptTemplate("{{#groups}}{{name}}:{{#members}} {{who}}{{/members}}{{^members}} nobody{{/members}}.{{/groups}}")
        let values: [String: PromptTemplate.Value] = [
            "groups": .list([
                ["name": .text("A"), "members": .list([["who": .text("x")], ["who": .text("y")]])],
                ["name": .text("B"), "members": .list([])],
            ])
        ]
        #expect(template.render(values) == "A: x y.B: nobody.")
    }

    // MARK: - Comments and standalone lines

    @Test func commentsAreRemoved() throws {
        #expect(try render("a{{! a comment }}b") == "ab")
        #expect(try render("{{! The first line says what the names are. }}\nHello") == "Hello")
    }

    @Test func aStandaloneSectionTagLineLeavesNoBlankLine() throws {
        let template = try PromptTemplate("first\n{{#notes}}\nnotes: {{notes}}\n{{/notes}}\n{{^notes}}\nno notes\n{{/notes}}\nlast\n")
        #expect(template.render(["notes": .text("swim")]) == "first\nnotes: swim\nlast\n")
        #expect(template.render([:]) == "first\nno notes\nlast\n")
    }

    @Test func aStandaloneListTagLineLeavesNoBlankLine() throws {
        let template = try PromptTemplate("Sections:\n{{#items}}\n- {{title}}\n{{/items}}\nEnd")
        #expect(template.render(["items": .list([["title": .text("Fun")], ["title": .text("Home")]])]) == "Sections:\n- Fun\n- Home\nEnd")
        #expect(template.render(["items": .list([])]) == "Sections:\nEnd")
    }

    // MARK: - Parse errors

    @Test(arguments: [
        "Hello {{name", "Hello {{name}", "{{#notes}}text", "{{#a}}{{#b}}x{{/b}}", "{{#a}}x{{/b}}", "{{/a}}", "x{{^a}}y{{/b}}",
        "{{}}", "{{#}}x{{/}}",
    ])
    func aTemplateThatDoesNotParseIsRefused(_ source: String) {
        #expect(throws: PromptTemplate.ParseError.self) { try PromptTemplate(source) }
    }

    @Test func parseErrorsSayWhatIsWrong() {
        let unclosedTag = #expect(throws: PromptTemplate.ParseError.self) { try PromptTemplate("Hello {{name") }
        #expect(unclosedTag?.description.contains("never closed") == true)
        let unclosedSection = #expect(throws: PromptTemplate.ParseError.self) { try PromptTemplate("{{#notes}}text") }
        #expect(unclosedSection?.description.contains("notes") == true)
        let mismatched = #expect(throws: PromptTemplate.ParseError.self) { try PromptTemplate("{{#a}}x{{/b}}") }
        #expect(mismatched?.description.contains("{{/b}}") == true)
    }

    // MARK: - The repository's prompts

    /// The repository root: up from Tests/VisionQueueTests/Generation/this file.
    static let promptsDirectory: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(4)
        return components.joined(separator: "/") + "/prompts"
    }()

    private func prompts() throws -> Prompts {
        try Prompts(directory: Self.promptsDirectory)
    }

    private func occurrences(of piece: String, in text: String) -> Int {
        text.components(separatedBy: piece).count - 1
    }

    static let notes: [VisionCategory: String] = [
        .health: "Run the Berlin marathon in 2027",
        .fun: "Dance salsa on Fridays",
        .travel: "Take the night train to Vienna",
        .love: "  \n",
    ]

    @Test func theCategoryMessageForACategoryWithNotesUsesThemAndTheOtherNotesAsContext() throws {
        let request = GenerationRequest(category: .health, notes: Self.notes[.health]!, allNotes: Self.notes, deadline: t0)
        let message = try prompts().categoryMessage(request)
        #expect(message.contains("\"Health\""))
        #expect(occurrences(of: "Run the Berlin marathon in 2027", in: message) == 1)
        #expect(message.contains("For context, my note on \"Fun\": Dance salsa on Fridays"))
        #expect(message.contains("For context, my note on \"Travel\": Take the night train to Vienna"))
        // A category whose notes are blank is no context; the category itself is not its own context.
        #expect(!message.contains("\"Love\""))
        #expect(!message.contains("my note on \"Health\""))
        #expect(!message.contains("I left no notes"))
        #expect(!message.contains("{{"))
        #expect(!message.contains("}}"))
        #expect(!message.contains("\n\n\n"))
        // Context follows the writing order.
        let fun = try #require(message.range(of: "my note on \"Fun\""))
        let travel = try #require(message.range(of: "my note on \"Travel\""))
        #expect(fun.lowerBound < travel.lowerBound)
    }

    @Test func theCategoryMessageForACategoryWithoutNotesAsksForAVisionWithoutThem() throws {
        let request = GenerationRequest(category: .love, notes: Self.notes[.love]!, allNotes: Self.notes, deadline: t0)
        let message = try prompts().categoryMessage(request)
        #expect(message.contains("\"Love\""))
        #expect(message.contains("I left no notes for this area"))
        #expect(!message.contains("My notes for this area"))
        #expect(message.contains("For context, my note on \"Health\": Run the Berlin marathon in 2027"))
        #expect(!message.contains("{{"))
    }

    @Test func theCategoryMessageWithNoNotesAtAll() throws {
        let message = try prompts().categoryMessage(GenerationRequest(category: .money, notes: "", deadline: t0))
        #expect(message.contains("\"Money\""))
        #expect(message.contains("I left no notes for this area"))
        #expect(!message.contains("For context"))
        #expect(!message.contains("{{"))
    }

    @Test func everyRenderedMessageIsFreeOfTags() throws {
        let prompts = try prompts()
        for category in VisionCategory.allCases {
            for notes in ["", "Some notes with {{braces}} of my own"] {
                let message = prompts.categoryMessage(
                    GenerationRequest(category: category, notes: notes, allNotes: Self.notes, deadline: t0))
                #expect(!message.replacingOccurrences(of: "{{braces}}", with: "").contains("{{"), "\(category)")
                #expect(message.contains("\"\(category.title)\""))
            }
        }
        #expect(!prompts.systemMessage.contains("{{"))
        #expect(prompts.systemMessage.contains("life vision"))
        let sections = Dictionary(uniqueKeysWithValues: VisionCategory.allCases.map { ($0, "I enjoy \($0.key).") })
        #expect(!prompts.assemblyMessage(sections: sections).contains("{{"))
    }

    @Test func theAssemblyMessageListsTheWrittenSectionsInOrder() throws {
        let message = try prompts().assemblyMessage(sections: [.work: "I teach.", .fun: "I dance.", .home: "I garden."])
        let fun = try #require(message.range(of: "## Fun\nI dance."))
        let home = try #require(message.range(of: "## Home\nI garden."))
        let work = try #require(message.range(of: "## Work\nI teach."))
        #expect(fun.lowerBound < home.lowerBound && home.lowerBound < work.lowerBound)
        #expect(!message.contains("## Health"))
        #expect(message.contains("\"---\""))
    }

    @Test func aMissingPromptsFolderIsAConfigurationErrorNamingTheFile() {
        let error = #expect(throws: ConfigurationError.self) { try Prompts(directory: "/nonexistent/vision-queue-prompts") }
        #expect(error?.description.contains("/nonexistent/vision-queue-prompts/system.txt") == true)
        #expect(error?.description.contains("VQ_PROMPTS_DIR") == true)
    }

    @Test func aPromptThatDoesNotParseIsAConfigurationErrorNamingTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-prompts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "System.".write(toFile: directory + "/system.txt", atomically: true, encoding: .utf8)
        try "{{#notes}}never closed".write(toFile: directory + "/category.txt", atomically: true, encoding: .utf8)
        try "Assembly.".write(toFile: directory + "/assembly.txt", atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try Prompts(directory: directory) }
        #expect(error?.description.contains(directory + "/category.txt") == true)
        #expect(error?.description.contains("never closed") == true)
    }
}
