/// How long categories usually take, for the page's estimate and for slow-category warnings.
public enum CategoryTiming {
    /// Recent categories the service's typical time is taken from.
    public static let sampleSize = 50
    /// A category is slow when it runs past this many times the typical one...
    public static let slowFactor: Int64 = 3
    /// ...and past this floor, so a service whose categories take a second is not noisy.
    public static let slowFloorMillis: Int64 = 30_000

    /// The median of `millis`; nil when empty.
    public static func median(_ millis: [Int64]) -> Int64? {
        guard !millis.isEmpty else { return nil }
        let sorted = millis.sorted()
        let middle = sorted.count / 2
        return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }

    public static func isSlow(elapsed: Int64, typical: Int64) -> Bool {
        elapsed >= slowFloorMillis && elapsed > slowFactor * max(typical, 1)
    }

    /// The typical time of this job's categories: its own written ones when it has any (they
    /// share its model, notes and provider load), else the service's recent median.
    public static func typical(of job: Job, serviceMedian: Int64?) -> Int64? {
        let own = job.categories.compactMap { category -> Int64? in
            guard category.state == .done, let started = category.startedAt, let completed = category.completedAt else { return nil }
            return completed - started
        }
        return median(own) ?? serviceMedian
    }
}
