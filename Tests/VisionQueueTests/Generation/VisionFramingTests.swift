import Testing
@testable import VisionQueue

@Suite("VisionFraming")
struct VisionFramingTests {
    // MARK: - Reading the model's answer

    @Test func theAnswerIsSplitOnTheDividerLine() throws {
        let framing = try #require(VisionFraming(modelText: "I live a full life.\n---\nEvery part of it fits."))
        #expect(framing == VisionFraming(opening: "I live a full life.", closing: "Every part of it fits."))
    }

    @Test func partsAreTrimmedAndKeepTheirInnerParagraphs() throws {
        let text = "\n\nI live a full life.\n\nIt is mine.  \n\n  ---  \n\nEvery part of it fits.\nAnd I am grateful.\n\n"
        let framing = try #require(VisionFraming(modelText: text))
        #expect(framing.opening == "I live a full life.\n\nIt is mine.")
        #expect(framing.closing == "Every part of it fits.\nAnd I am grateful.")
    }

    @Test func aLongerRuleIsADividerAndOnlyTheFirstOneSplits() throws {
        let framing = try #require(VisionFraming(modelText: "Opening.\n-----\nClosing.\n---\nMore closing."))
        #expect(framing.opening == "Opening.")
        #expect(framing.closing == "Closing.\n---\nMore closing.")
    }

    @Test func dashesInsideALineDoNotSplit() throws {
        let framing = try #require(VisionFraming(modelText: "I run --- and swim.\n---\nI rest -- well."))
        #expect(framing.opening == "I run --- and swim.")
        #expect(framing.closing == "I rest -- well.")
    }

    @Test(arguments: [
        "I live a full life. Every part of it fits.", "Opening.\n--\nClosing.", "Opening.\n- - -\nClosing.", "",
        "---\nEvery part of it fits.", "I live a full life.\n---", "I live a full life.\n---\n  \n\n", "  \n---\nClosing.", "---",
    ])
    func withoutADividerOrWithAnEmptyHalfThereIsNoFraming(_ text: String) {
        #expect(VisionFraming(modelText: text) == nil)
    }

    @Test func windowsLineEndsStillSplit() throws {
        let framing = try #require(VisionFraming(modelText: "I live a full life.\r\n---\r\nEvery part of it fits."))
        #expect(framing.opening == "I live a full life.")
        #expect(framing.closing == "Every part of it fits.")
    }

    // MARK: - The assembled document

    private func allSections() -> [VisionCategory: String] {
        Dictionary(uniqueKeysWithValues: VisionCategory.allCases.map { ($0, "Text about \($0.key).") })
    }

    static let framing = VisionFraming(opening: "I live a full life.", closing: "Every part of it fits.")

    @Test func theOpeningComesBeforeTheFirstSectionAndTheClosingAfterTheLast() throws {
        let document = VisionAssembler.document(sections: allSections(), framing: Self.framing)
        #expect(document.hasPrefix("# My Life Vision\n\nI live a full life.\n\n## Fun\n\nText about fun."))
        #expect(document.hasSuffix("## Spirituality\n\nText about spirituality.\n\n---\n\nEvery part of it fits.\n"))
        #expect(document.components(separatedBy: "I live a full life.").count == 2)
        #expect(document.components(separatedBy: "Every part of it fits.").count == 2)
        #expect(document.components(separatedBy: "\n## ").count == 13)
    }

    @Test func theFramingSurroundsMissingSectionsToo() throws {
        let document = VisionAssembler.document(sections: [.fun: "Text about fun."], framing: Self.framing)
        let opening = try #require(document.range(of: "I live a full life."))
        let firstHeading = try #require(document.range(of: "## Fun"))
        let lastHeading = try #require(document.range(of: "## Spirituality"))
        let closing = try #require(document.range(of: "Every part of it fits."))
        #expect(opening.upperBound < firstHeading.lowerBound)
        #expect(lastHeading.upperBound < closing.lowerBound)
        #expect(document.hasSuffix("Retry the failed categories from the job page._\n\n---\n\nEvery part of it fits.\n"))
    }

    @Test func withoutAFramingThereIsNoDividerOrClosing() {
        let document = VisionAssembler.document(sections: allSections())
        #expect(document.hasPrefix("# My Life Vision\n\n## Fun\n\n"))
        #expect(document.hasSuffix("## Spirituality\n\nText about spirituality.\n"))
        #expect(!document.contains("\n---\n"))
    }

    @Test func aNoteIsShownUnderTheTitle() {
        let note = "The opening and closing could not be written."
        let document = VisionAssembler.document(sections: allSections(), note: note)
        #expect(document.hasPrefix("# My Life Vision\n\n_The opening and closing could not be written._\n\n## Fun\n\n"))
        #expect(document.components(separatedBy: note).count == 2)
        let both = VisionAssembler.document(sections: allSections(), framing: Self.framing, note: note)
        #expect(both.hasPrefix("# My Life Vision\n\n_The opening and closing could not be written._\n\nI live a full life.\n\n## Fun"))
    }

    // MARK: - CategoryTiming

    @Test func medianOfAnOddCountIsTheMiddleValue() {
        #expect(CategoryTiming.median([7_000]) == 7_000)
        #expect(CategoryTiming.median([30_000, 10_000, 20_000]) == 20_000)
        #expect(CategoryTiming.median([1, 1_000_000, 5, 4, 3]) == 4)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheTwoMiddleValues() {
        #expect(CategoryTiming.median([20_000, 10_000]) == 15_000)
        #expect(CategoryTiming.median([4_000, 1_000, 3_000, 2_000]) == 2_500)
        #expect(CategoryTiming.median([1, 2]) == 1)  // whole milliseconds, rounded down
    }

    @Test func medianOfNothingIsNil() {
        #expect(CategoryTiming.median([]) == nil)
    }

    @Test func slowMeansPastThreeTimesTheTypical() {
        #expect(!CategoryTiming.isSlow(elapsed: 60_000, typical: 20_000))
        #expect(CategoryTiming.isSlow(elapsed: 60_001, typical: 20_000))
        #expect(!CategoryTiming.isSlow(elapsed: 100_000, typical: 40_000))
        #expect(CategoryTiming.isSlow(elapsed: 120_001, typical: 40_000))
    }

    @Test func nothingUnderThirtySecondsIsSlow() {
        // A service whose categories take a second is not noisy: 29.9 s is 29 times the typical but not slow.
        #expect(!CategoryTiming.isSlow(elapsed: 29_999, typical: 1_000))
        #expect(CategoryTiming.isSlow(elapsed: 30_000, typical: 1_000))
        #expect(!CategoryTiming.isSlow(elapsed: 29_999, typical: 0))
        #expect(CategoryTiming.isSlow(elapsed: 30_000, typical: 0))
    }

    private func job(_ categories: [(VisionCategory, CategoryState, EpochMillis?, EpochMillis?)]) -> Job {
        let byCategory = Dictionary(uniqueKeysWithValues: categories.map { ($0.0, $0) })
        return Job(
            id: JobID("00000000-0000-7000-8000-000000000000")!, userID: "alice", status: .processing, currentCategory: nil,
            categoriesCompleted: 0, categoriesFailed: 0, visionID: nil, error: nil, createdAt: t0, startedAt: t0,
            completedAt: nil, updatedAt: t0,
            categories: VisionCategory.allCases.map { category in
                guard let entry = byCategory[category] else {
                    return CategoryProgress(category: category, state: .pending, attempts: 0)
                }
                return CategoryProgress(
                    category: category, state: entry.1, attempts: 1, error: nil, startedAt: entry.2, completedAt: entry.3,
                    nextAttemptAt: nil)
            })
    }

    @Test func theTypicalTimePrefersTheJobsOwnDoneCategories() {
        let job = job([
            (.fun, .done, t0, t0 + 10_000),
            (.health, .done, t0 + 10_000, t0 + 30_000),
            (.travel, .done, t0 + 30_000, t0 + 42_000),
            // Not written: their times say nothing about how long writing takes.
            (.love, .failed, t0, t0 + 300_000),
            (.family, .running, t0 + 42_000, nil),
            (.social, .retrying, t0, t0 + 200_000),
        ])
        #expect(CategoryTiming.typical(of: job, serviceMedian: 90_000) == 12_000)
        #expect(CategoryTiming.typical(of: job, serviceMedian: nil) == 12_000)
    }

    @Test func withoutDoneCategoriesTheServiceMedianIsTypical() {
        let fresh = job([(.fun, .running, t0, nil), (.health, .failed, t0, t0 + 500_000)])
        #expect(CategoryTiming.typical(of: fresh, serviceMedian: 90_000) == 90_000)
        #expect(CategoryTiming.typical(of: fresh, serviceMedian: nil) == nil)
        // A done category without its times (an old row) is not a sample.
        let untimed = job([(.fun, .done, nil, nil), (.health, .done, t0, nil)])
        #expect(CategoryTiming.typical(of: untimed, serviceMedian: 45_000) == 45_000)
    }
}
