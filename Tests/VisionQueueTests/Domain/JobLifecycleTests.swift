import Testing
@testable import VisionQueue

@Suite("JobLifecycle")
struct JobLifecycleTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 3, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    let now: EpochMillis = t0

    /// All twelve categories in writing order, pending unless `overrides` says otherwise.
    private func records(_ overrides: [VisionCategory: CategoryRecord] = [:], rest: CategoryState = .pending) -> [CategoryRecord] {
        VisionCategory.allCases.map { overrides[$0] ?? CategoryRecord(category: $0, state: rest, attempts: rest == .pending ? 0 : 1) }
    }

    private func settled(except overrides: [VisionCategory: CategoryRecord]) -> [CategoryRecord] {
        records(overrides, rest: .done)
    }

    // MARK: nextStep

    @Test(arguments: [JobStatus.completed, .failed, .cancelled])
    func finalJobsAreFinishedWhateverTheirCategoriesSay(_ status: JobStatus) {
        #expect(lifecycle.nextStep(jobStatus: status, categories: records(), now: now) == .finished)
        let live = records([.fun: CategoryRecord(category: .fun, state: .running, attempts: 1, leaseExpiresAt: now + 1)])
        #expect(lifecycle.nextStep(jobStatus: status, categories: live, now: now) == .finished)
    }

    @Test(arguments: [JobStatus.pending, .processing])
    func freshJobRunsTheFirstCategoryAsAttemptOne(_ status: JobStatus) {
        #expect(lifecycle.nextStep(jobStatus: status, categories: records(), now: now) == .run(.fun, attempt: 1))
    }

    @Test func aLiveLeaseMakesTheJobBusy() {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .done, attempts: 1),
            .health: CategoryRecord(category: .health, state: .running, attempts: 1, leaseExpiresAt: now + 5_000),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .leasedElsewhere(leaseExpiresAt: now + 5_000))
    }

    @Test func aLiveLeaseOnALaterCategoryStillBlocksEarlierPendingOnes() {
        // One category at a time per job, whatever the order the rows are in.
        let categories = records([
            .work: CategoryRecord(category: .work, state: .running, attempts: 2, leaseExpiresAt: now + 1),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .leasedElsewhere(leaseExpiresAt: now + 1))
    }

    @Test func runsTheFirstPendingCategoryInOrder() {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .done, attempts: 1),
            .health: CategoryRecord(category: .health, state: .failed, attempts: 3),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .run(.travel, attempt: 1))
    }

    @Test func aPendingCategoryWithEarlierAttemptsContinuesTheCount() {
        let categories = settled(except: [.love: CategoryRecord(category: .love, state: .pending, attempts: 2)])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .run(.love, attempt: 3))
    }

    @Test(arguments: [t0 - 1, t0, nil] as [EpochMillis?])
    func aLapsedLeaseIsRunAgainCountingTheLostAttempt(_ leaseExpiresAt: EpochMillis?) {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .done, attempts: 1),
            .health: CategoryRecord(category: .health, state: .running, attempts: 1, leaseExpiresAt: leaseExpiresAt),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .run(.health, attempt: 2))
    }

    @Test func aLapsedLeaseAtMaxAttemptsIsGivenUp() {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .running, attempts: 3, leaseExpiresAt: now - 1),
        ])
        let step = lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now)
        #expect(step == .giveUp(.fun, reason: "The worker writing this category stopped 3 times without finishing."))
        // Beyond the maximum (the policy was lowered meanwhile) it is given up too.
        let beyond = records([.fun: CategoryRecord(category: .fun, state: .running, attempts: 7, leaseExpiresAt: now - 1)])
        guard case .giveUp(.fun, _) = lifecycle.nextStep(jobStatus: .processing, categories: beyond, now: now) else {
            Issue.record("expected giveUp for a lapsed category beyond maxAttempts")
            return
        }
    }

    @Test func giveUpReasonUsesTheSingularForOneAttempt() {
        let single = JobLifecycle(policy: RetryPolicy(maxAttempts: 1))
        let categories = records([.fun: CategoryRecord(category: .fun, state: .running, attempts: 1, leaseExpiresAt: now)])
        #expect(
            single.nextStep(jobStatus: .processing, categories: categories, now: now)
                == .giveUp(.fun, reason: "The worker writing this category stopped 1 time without finishing."))
    }

    @Test(arguments: [t0 - 1, t0, nil] as [EpochMillis?])
    func aDueRetryRunsAsTheNextAttempt(_ nextAttemptAt: EpochMillis?) {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .retrying, attempts: 1, nextAttemptAt: nextAttemptAt),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .run(.fun, attempt: 2))
    }

    @Test func aRetryNotYetDueLetsLaterCategoriesRun() {
        let categories = records([
            .fun: CategoryRecord(category: .fun, state: .retrying, attempts: 1, nextAttemptAt: now + 1),
            .health: CategoryRecord(category: .health, state: .done, attempts: 1),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .run(.travel, attempt: 1))
    }

    @Test func onlyRetriesNotYetDueLeftMeansWaitForTheEarliest() {
        let categories = settled(except: [
            .fun: CategoryRecord(category: .fun, state: .retrying, attempts: 1, nextAttemptAt: now + 5_000),
            .home: CategoryRecord(category: .home, state: .failed, attempts: 3),
            .work: CategoryRecord(category: .work, state: .retrying, attempts: 2, nextAttemptAt: now + 2_000),
            .giving: CategoryRecord(category: .giving, state: .retrying, attempts: 1, nextAttemptAt: now + 9_000),
        ])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now) == .wait(until: now + 2_000))
        // Once the earliest is due, it runs.
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: categories, now: now + 2_000) == .run(.work, attempt: 3))
    }

    @Test func everyCategorySettledMeansAssemble() {
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: records(rest: .done), now: now) == .assemble)
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: records(rest: .failed), now: now) == .assemble)
        let mixed = settled(except: [.money: CategoryRecord(category: .money, state: .failed, attempts: 3)])
        #expect(lifecycle.nextStep(jobStatus: .processing, categories: mixed, now: now) == .assemble)
    }

    // MARK: afterFailure

    // MARK: reservation

    @Test func theCategoryAClaimWouldTakeNowIsReserved() {
        let funDone = records([.fun: CategoryRecord(category: .fun, state: .done, attempts: 1)])
        #expect(lifecycle.reservation(jobStatus: .processing, categories: funDone, now: now) == .health)
        let dueRetry = records([.fun: CategoryRecord(category: .fun, state: .retrying, attempts: 1, nextAttemptAt: now)])
        #expect(lifecycle.reservation(jobStatus: .processing, categories: dueRetry, now: now) == .fun)
    }

    @Test func nothingIsReservedThatAClaimWouldNotTakeAtOnce() {
        let waiting = settled(except: [.fun: CategoryRecord(category: .fun, state: .retrying, attempts: 1, nextAttemptAt: now + 5)])
        #expect(lifecycle.reservation(jobStatus: .processing, categories: waiting, now: now) == nil, "a retry not yet due")
        #expect(lifecycle.reservation(jobStatus: .processing, categories: settled(except: [:]), now: now) == nil, "assembly")
        let live = records([.fun: CategoryRecord(category: .fun, state: .running, attempts: 1, leaseExpiresAt: now + 1)])
        #expect(lifecycle.reservation(jobStatus: .processing, categories: live, now: now) == nil, "a live lease")
        #expect(lifecycle.reservation(jobStatus: .cancelled, categories: records(), now: now) == nil, "an ended job")
        let crashed = records([.fun: CategoryRecord(category: .fun, state: .running, attempts: 3, leaseExpiresAt: now)])
        #expect(lifecycle.reservation(jobStatus: .processing, categories: crashed, now: now) == nil, "a category to give up")
        let limited = JobLifecycle(policy: lifecycle.policy, maxConcurrentCategories: 8)
        #expect(limited.reservation(jobStatus: .processing, categories: records(), now: now) == nil,
                "a limit of categories writing at once")
    }

    @Test func failuresBelowMaxAttemptsAreRetriedAfterTheBackoff() {
        #expect(lifecycle.afterFailure(attempt: 1, now: now, unitRandom: 0) == .retry(at: now + 500))
        #expect(lifecycle.afterFailure(attempt: 2, now: now, unitRandom: 0) == .retry(at: now + 1_000))
        #expect(lifecycle.afterFailure(attempt: 2, now: now, unitRandom: 0.5) == .retry(at: now + 1_500))
    }

    @Test(arguments: [3, 4, 100])
    func failuresAtOrBeyondMaxAttemptsFailTheCategory(_ attempt: Int) {
        #expect(lifecycle.afterFailure(attempt: attempt, now: now, unitRandom: 0.3) == .fail)
    }

    @Test func withOneAttemptTheFirstFailureIsFinal() {
        let single = JobLifecycle(policy: RetryPolicy(maxAttempts: 1))
        #expect(single.afterFailure(attempt: 1, now: now, unitRandom: 0) == .fail)
    }

    // MARK: ending

    @Test func endingIsCompletedWhenAnythingWasWritten() {
        #expect(lifecycle.ending(categories: records(rest: .done)) == .completed)
        let oneDone = records([.spirituality: CategoryRecord(category: .spirituality, state: .done, attempts: 1)], rest: .failed)
        #expect(lifecycle.ending(categories: oneDone) == .completed)
    }

    @Test func endingIsFailedWithAReasonWhenNothingWasWritten() {
        guard case .failed(let reason) = lifecycle.ending(categories: records(rest: .failed)) else {
            Issue.record("a job with every category failed must end failed")
            return
        }
        #expect(!reason.isEmpty)
    }
}
