/// How hard a category is tried before it is given up, and how long a claim lasts.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts per category, crashes included. Default 3.
    public var maxAttempts: Int
    /// How long a claim stays valid without a heartbeat. Default 60 s; renewed every third of it.
    public var leaseMillis: Int64
    /// Delay before the first retry; doubles with each further attempt. Default 2 s.
    public var backoffBaseMillis: Int64
    /// Upper bound for one backoff delay. Default 5 minutes.
    public var backoffCapMillis: Int64

    public init(
        maxAttempts: Int = 3, leaseMillis: Int64 = 60_000, backoffBaseMillis: Int64 = 2_000,
        backoffCapMillis: Int64 = 300_000
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.leaseMillis = max(1_000, leaseMillis)
        self.backoffBaseMillis = max(0, backoffBaseMillis)
        self.backoffCapMillis = max(self.backoffBaseMillis, backoffCapMillis)
    }

    /// How long a category reserved for the next step stays reserved for the trigger carrying it
    /// (a sixth of the lease, 10 s by default): ample for a trigger queued behind thousands of
    /// others, short enough that a lost one holds its job up for seconds, not a whole lease.
    public var reservationMillis: Int64 { leaseMillis / 6 }

    /// A reservation taken with less than this left (a twelfth of the lease) is extended at once,
    /// rather than left to the lease keeper, whose next beat (every 24th of a lease at most) might
    /// come too late.
    public var reservationFloorMillis: Int64 { leaseMillis / 12 }

    /// Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries
    /// of many jobs that failed together (an API outage) spread out instead of returning at once.
    /// `unitRandom` is in 0..<1 and passed in so tests are exact.
    public func backoff(afterAttempt attempt: Int, unitRandom: Double) -> Int64 {
        let exponent = attempt <= 1 ? 0 : min(attempt - 1, 30)
        let full = min(backoffCapMillis, backoffBaseMillis.multipliedReportingOverflow(by: 1 << exponent).overflow
            ? backoffCapMillis : backoffBaseMillis << exponent)
        let half = full / 2
        let unit = unitRandom.isNaN ? 0 : min(max(unitRandom, 0), 0.999_999)
        return half + Int64(Double(full - half) * unit)
    }
}
