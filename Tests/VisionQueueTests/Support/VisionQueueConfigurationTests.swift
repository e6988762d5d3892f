import Testing
@testable import VisionQueue

@Suite("VisionQueueConfiguration")
struct VisionQueueConfigurationTests {
    @Test func processWorkersAreEnoughForEveryAllowedCategoryToWriteAtOnce() throws {
        let defaults = try VisionQueueConfiguration(environment: [:])
        #expect(defaults.threads(for: "vision-status") == 4)
        #expect(defaults.threads(for: "vision-create") == 4)
        // 16 categories may write at once, all in the one vision-process process.
        #expect(defaults.threads(for: "vision-process") == 16)
        #expect(defaults.processes == 2 && defaults.processProcesses == 1)

        let wider = try VisionQueueConfiguration(environment: ["VQ_MAX_CONCURRENT_CATEGORIES": "50", "VQ_PROCESS_PROCESSES": "3"])
        #expect(wider.threads(for: "vision-process") == 17)
        let two = try VisionQueueConfiguration(environment: ["VQ_PROCESS_PROCESSES": "2"])
        #expect(two.threads(for: "vision-process") == 8, "the limit shared among two")
        let many = try VisionQueueConfiguration(environment: ["VQ_THREADS": "32"])
        #expect(many.threads(for: "vision-process") == 32)
        let chosen = try VisionQueueConfiguration(environment: ["VQ_PROCESS_THREADS": "3"])
        #expect(chosen.threads(for: "vision-process") == 3)
        #expect(throws: ConfigurationError.self) { try VisionQueueConfiguration(environment: ["VQ_PROCESS_THREADS": "0"]) }
    }

    @Test func theStoreCountsRunningCategoriesOnlyWhereTheThreadsCannotHoldTheLimit() throws {
        // SQLite, 1 x 16 threads for a limit of 16: no step can pass it, so none is counted and
        // each step reserves the next.
        let defaults = try VisionQueueConfiguration(environment: [:])
        #expect(defaults.lifecycle.maxConcurrentCategories == nil)
        #expect(defaults.lifecycle.reservesNextSteps)
        #expect(try VisionQueueConfiguration(environment: ["VQ_PROCESS_PROCESSES": "2"]).lifecycle.reservesNextSteps, "2 x 8")
        // More threads than the limit: the store counts.
        for environment in [["VQ_PROCESS_THREADS": "17"], ["VQ_MAX_CONCURRENT_CATEGORIES": "2"],
                            ["VQ_MAX_CONCURRENT_CATEGORIES": "50", "VQ_PROCESS_PROCESSES": "3"]] {
            let lifecycle = try VisionQueueConfiguration(environment: environment).lifecycle
            #expect(lifecycle.maxConcurrentCategories == Int(environment["VQ_MAX_CONCURRENT_CATEGORIES"] ?? "16"), "\(environment)")
            #expect(!lifecycle.reservesNextSteps)
        }
        // PostgreSQL: other machines' workers share the limit, so the store always counts.
        let shared = try VisionQueueConfiguration(environment: ["VQ_DATABASE_URL": "postgresql://localhost/vq"])
        #expect(shared.lifecycle.maxConcurrentCategories == 16)
        #expect(try VisionQueueConfiguration(environment: ["VQ_MAX_CONCURRENT_CATEGORIES": "0"]).lifecycle.maxConcurrentCategories == nil)
    }
}
