import Testing
@testable import VisionQueue

@Suite("VisionAssembler")
struct VisionAssemblerTests {
    static let placeholder = "_This section could not be written. Retry the failed categories from the job page._"

    private func allSections() -> [VisionCategory: String] {
        Dictionary(uniqueKeysWithValues: VisionCategory.allCases.map { ($0, "Text about \($0.key).") })
    }

    @Test func titleThenEveryCategoryInWritingOrder() throws {
        let document = VisionAssembler.document(sections: allSections())
        #expect(document.hasPrefix("# My Life Vision\n\n"))
        #expect(document.hasSuffix("\n"))
        var searchFrom = document.startIndex
        for category in VisionCategory.allCases {
            let heading = "## \(category.title)\n\nText about \(category.key)."
            let range = try #require(document.range(of: heading, range: searchFrom..<document.endIndex),
                                     "\(category.title) missing or out of order")
            searchFrom = range.upperBound
        }
        #expect(document.components(separatedBy: "\n## ").count == 13)
        #expect(!document.contains(Self.placeholder))
    }

    @Test func aMissingSectionKeepsItsHeadingWithANote() {
        var sections = allSections()
        sections[.health] = nil
        let document = VisionAssembler.document(sections: sections)
        #expect(document.contains("## Health\n\n\(Self.placeholder)\n\n## Travel"))
        #expect(document.components(separatedBy: Self.placeholder).count == 2)
        #expect(!document.contains("Text about health."))
    }

    @Test func noSectionsGiveTwelvePlaceholders() {
        let document = VisionAssembler.document(sections: [:])
        #expect(document.components(separatedBy: Self.placeholder).count == 13)
        #expect(document.hasPrefix("# My Life Vision\n\n## Fun\n\n"))
    }
}
