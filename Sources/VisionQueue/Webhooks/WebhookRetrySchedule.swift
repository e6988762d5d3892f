/// When a failed delivery is tried again: the schedule Standard Webhooks' providers use (5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: a receiver down for a whole day still gets the event),
/// scaled by `firstDelayMillis` for tests. Pure: no clock, no randomness.
public struct WebhookRetrySchedule: Sendable, Equatable {
    /// The first retry's delay; every later one is a fixed multiple of it.
    public var firstDelayMillis: Int64

    /// Multiples of the first delay: 5 s x [1, 60, 360, 1440, 3600, 7200, 7200].
    static let multiples: [Int64] = [1, 60, 360, 1_440, 3_600, 7_200, 7_200]

    public init(firstDelayMillis: Int64 = 5_000) {
        self.firstDelayMillis = firstDelayMillis
    }

    /// Deliveries in all, the first included.
    public var maxAttempts: Int { Self.multiples.count + 1 }

    /// When to try again after `attempts` failed deliveries; nil when the event is given up.
    public func nextAttempt(afterFailedAttempts attempts: Int, now: EpochMillis) -> EpochMillis? {
        guard attempts >= 1, attempts <= Self.multiples.count else { return nil }
        return now + firstDelayMillis * Self.multiples[attempts - 1]
    }

    /// From the first failure to giving up: how long a receiver may be away (27 h 35 min 5 s).
    public var totalMillis: Int64 { Self.multiples.reduce(0, +) * firstDelayMillis }
}
