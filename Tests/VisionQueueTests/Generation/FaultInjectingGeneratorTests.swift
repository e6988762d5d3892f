import Testing
@testable import VisionQueue

@Suite("FaultInjectingGenerator")
struct FaultInjectingGeneratorTests {
    let builtIn = BuiltInGenerator(delayMillis: 0)

    private func request(_ category: VisionCategory, attempt: Int) -> GenerationRequest {
        GenerationRequest(category: category, notes: "Notes", attempt: attempt, deadline: Clock.now() + 60_000)
    }

    private func fails(_ generator: VisionGenerator, _ category: VisionCategory, attempt: Int) -> Bool {
        do {
            _ = try generator.write(request(category, attempt: attempt))
            return false
        } catch {
            return true
        }
    }

    @Test func failsOnlyTheConfiguredFirstAttempts() throws {
        let generator = try #require(FaultInjectingGenerator(wrapping: builtIn, spec: "health:2"))
        #expect(fails(generator, .health, attempt: 1))
        #expect(fails(generator, .health, attempt: 2))
        #expect(!fails(generator, .health, attempt: 3))
        #expect(try generator.write(request(.health, attempt: 3)) == (try builtIn.write(request(.health, attempt: 3))))
        #expect(!fails(generator, .fun, attempt: 1))
        #expect(!fails(generator, .travel, attempt: 1))
    }

    @Test func starFailsEveryAttempt() throws {
        let generator = try #require(FaultInjectingGenerator(wrapping: builtIn, spec: "health:2,travel:*"))
        for attempt in [1, 2, 3, 50, 1_000_000] {
            #expect(fails(generator, .travel, attempt: attempt))
        }
        #expect(!fails(generator, .health, attempt: 3))
        #expect(!fails(generator, .spirituality, attempt: 1))
    }

    @Test func theErrorSaysItWasInjected() throws {
        let generator = try #require(FaultInjectingGenerator(wrapping: builtIn, spec: "work:*"))
        #expect(throws: GenerationError("Injected failure for work, attempt 2.", reason: .injected)) {
            try generator.write(request(.work, attempt: 2))
        }
    }

    @Test(arguments: ["", "nonsense", "hobbies:3", "health", ",,", "health:1:2"])
    func specsWithoutAValidEntryGiveNoWrapper(_ spec: String) {
        #expect(FaultInjectingGenerator(wrapping: builtIn, spec: spec) == nil)
    }
}
