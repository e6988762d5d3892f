import Testing
@testable import VisionQueue

@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test func defaults() {
        let policy = RetryPolicy()
        #expect(policy.maxAttempts == 3)
        #expect(policy.leaseMillis == 60_000)
        #expect(policy.backoffBaseMillis == 2_000)
        #expect(policy.backoffCapMillis == 300_000)
    }

    @Test func nonsenseSettingsAreClampedToUsableOnes() {
        let policy = RetryPolicy(maxAttempts: 0, leaseMillis: 10, backoffBaseMillis: -5, backoffCapMillis: -1)
        #expect(policy.maxAttempts == 1)
        #expect(policy.leaseMillis == 1_000)
        #expect(policy.backoffBaseMillis == 0)
        #expect(policy.backoffCapMillis == 0)
        #expect(RetryPolicy(backoffBaseMillis: 10_000, backoffCapMillis: 1_000).backoffCapMillis == 10_000)
    }

    @Test func backoffDoublesWithEachAttempt() {
        let policy = RetryPolicy(backoffBaseMillis: 2_000, backoffCapMillis: 10_000_000)
        let delays = (1...6).map { policy.backoff(afterAttempt: $0, unitRandom: 0) }
        #expect(delays == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000])
        let top = (1...6).map { policy.backoff(afterAttempt: $0, unitRandom: 0.5) }
        #expect(top == [1_500, 3_000, 6_000, 12_000, 24_000, 48_000])
    }

    @Test(arguments: [0.0, 0.25, 0.5, 0.9, 0.999_999, 0.999_999_999, 1.0, 5.0, -3.0])
    func backoffLiesWithinHalfToFullOfTheDelay(_ unitRandom: Double) {
        let policy = RetryPolicy(backoffBaseMillis: 1_000, backoffCapMillis: 60_000)
        for attempt in 1...12 {
            let full = min(60_000, Int64(1_000) << (attempt - 1))
            let delay = policy.backoff(afterAttempt: attempt, unitRandom: unitRandom)
            #expect(delay >= full / 2 && delay < full, "attempt \(attempt), random \(unitRandom): \(delay) not in [\(full / 2), \(full))")
        }
    }

    @Test func backoffIsCappedByBackoffCapMillis() {
        let policy = RetryPolicy(backoffBaseMillis: 2_000, backoffCapMillis: 300_000)
        // 2 s << 8 = 512 s is over the 300 s cap.
        #expect(policy.backoff(afterAttempt: 9, unitRandom: 0) == 150_000)
        #expect(policy.backoff(afterAttempt: 9, unitRandom: 0.999_999) < 300_000)
        #expect(policy.backoff(afterAttempt: 9, unitRandom: 0.999_999) >= 299_999)
        #expect(policy.backoff(afterAttempt: 20, unitRandom: 0) == 150_000)
    }

    @Test(arguments: [31, 32, 62, 63, 64, 65, 1_000, 1_000_000, Int.max])
    func hugeAttemptNumbersNeverOverflow(_ attempt: Int) {
        let policy = RetryPolicy(backoffBaseMillis: 2_000, backoffCapMillis: 300_000)
        let delay = policy.backoff(afterAttempt: attempt, unitRandom: 0.7)
        #expect(delay >= 150_000 && delay < 300_000)

        let huge = RetryPolicy(backoffBaseMillis: Int64.max / 4, backoffCapMillis: Int64.max)
        let hugeDelay = huge.backoff(afterAttempt: attempt, unitRandom: 0.999_999)
        #expect(hugeDelay >= Int64.max / 2 && hugeDelay < Int64.max)
    }

    @Test(arguments: [0, -1, -100])
    func attemptsBelowOneUseTheBaseDelay(_ attempt: Int) {
        let policy = RetryPolicy(backoffBaseMillis: 2_000)
        #expect(policy.backoff(afterAttempt: attempt, unitRandom: 0) == 1_000)
    }

    @Test func zeroBaseMeansRetryAtOnce() {
        let policy = RetryPolicy(backoffBaseMillis: 0)
        #expect((1...10).allSatisfy { policy.backoff(afterAttempt: $0, unitRandom: 0.9) == 0 })
    }
}
