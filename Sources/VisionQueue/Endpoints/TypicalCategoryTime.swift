/// The service's recent median category time, read at most once a minute per worker thread: the
/// estimate a job shows before it has written a category of its own.
final class TypicalCategoryTime {
    private var median: Int64?
    private var readAt: EpochMillis = 0
    private let refreshMillis: Int64

    init(refreshMillis: Int64 = 60_000) { self.refreshMillis = refreshMillis }

    func serviceMedian(_ store: JobStore, now: EpochMillis) -> Int64? {
        if readAt == 0 || now - readAt >= refreshMillis {
            readAt = now
            // A busy database only keeps the last figure a little longer.
            if let recent = try? store.recentCategoryMillis(limit: CategoryTiming.sampleSize) { median = CategoryTiming.median(recent) }
        }
        return median
    }
}
