import Glibc

/// Milliseconds since 1970 UTC: how every time is stored, compared and sent.
///
/// Integers keep SQL comparisons exact and indexable and make the lifecycle a pure function of
/// "now", which tests pass in.
public typealias EpochMillis = Int64

public enum Clock {
    public static func now() -> EpochMillis {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return EpochMillis(spec.tv_sec) * 1000 + EpochMillis(spec.tv_nsec / 1_000_000)
    }

    /// Nanoseconds on a clock that never jumps, for durations.
    public static func monotonicNanos() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
