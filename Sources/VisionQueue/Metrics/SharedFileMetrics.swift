import CoreMetrics
import Synchronization

/// The swift-metrics backend of Vision Queue: every counter, gauge and timer a process records
/// lands in that process's `MetricsFile`, where a scrape of any process sums them.
///
/// Each binary calls `bootstrap(directory:)` once at start; code records through swift-metrics'
/// `Counter`, `Meter` and `Timer` under the names of `MetricFamily.all`. Timers become Prometheus
/// histograms with the family's buckets (cumulative bucket counters, a `_sum` in nanoseconds, a
/// `_count`), so a scrape only adds numbers up.
public final class SharedFileMetrics: MetricsFactory, Sendable {
    private let file: MetricsFile
    /// Key to entry index. Appends happen under this lock; increments never take it.
    private let slots: Mutex<[String: Int]>

    init(file: MetricsFile) {
        self.file = file
        slots = Mutex(file.index())
    }

    /// Takes a metrics file in `directory` and makes this process's swift-metrics record into it.
    /// Called once per process; a process whose file cannot be set up counts nothing and says so.
    public static func bootstrap(directory: String, log: Logger) {
        do {
            MetricsSystem.bootstrap(SharedFileMetrics(file: try MetricsFile.adopt(in: directory)))
        } catch {
            log.warning("metrics are off in this process: \(error)")
        }
    }

    /// A factory of its own over a file in `directory`, for tests that must not touch the global one.
    public static func standalone(directory: String) throws(MetricsError) -> SharedFileMetrics {
        SharedFileMetrics(file: try MetricsFile.adopt(in: directory))
    }

    /// The entry of `key`, appended on first use; nil when the file is full.
    fileprivate func slot(_ key: String, _ kind: MetricsFile.EntryKind) -> UnsafeMutablePointer<Atomic<UInt64>>? {
        let index: Int? = slots.withLock { slots in
            if let index = slots[key] { return index }
            guard let index = file.append(key: key, kind: kind) else { return nil }
            slots[key] = index
            return index
        }
        return index.map { file.value(at: $0) }
    }

    private static func family(_ label: String, _ kind: MetricFamily.Kind) -> MetricFamily? {
        let family = MetricFamily.all.first { $0.name == label }
        assert(family?.kind == kind, "\(label) is not a \(kind) of MetricFamily.all")
        return family?.kind == kind ? family : nil
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        guard Self.family(label, .counter) != nil else { return SlotCounter(nil) }
        return SlotCounter(slot(SeriesKey.render(label, dimensions), .counter))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        guard Self.family(label, .gauge) != nil else { return SlotGauge(nil) }
        return SlotGauge(slot(SeriesKey.render(label, dimensions), .gauge))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        guard Self.family(label, .gauge) != nil else { return SlotGauge(nil) }
        return SlotGauge(slot(SeriesKey.render(label, dimensions), .gauge))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        guard let family = Self.family(label, .histogram) else { return SlotHistogram(bounds: [], buckets: [], sum: nil, count: nil) }
        let buckets = (family.buckets.map(SeriesKey.bound) + ["+Inf"]).map {
            slot(SeriesKey.render(label + "_bucket", dimensions + [("le", $0)]), .counter)
        }
        return SlotHistogram(
            bounds: family.buckets.map { Int64($0 * 1e9) }, buckets: buckets,
            sum: slot(SeriesKey.render(label + "_sum", dimensions), .nanoseconds),
            count: slot(SeriesKey.render(label + "_count", dimensions), .counter))
    }

    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}
}

private final class SlotCounter: CounterHandler, @unchecked Sendable {
    let value: UnsafeMutablePointer<Atomic<UInt64>>?
    init(_ value: UnsafeMutablePointer<Atomic<UInt64>>?) { self.value = value }
    func increment(by amount: Int64) {
        guard amount > 0 else { return }
        value?.pointee.wrappingAdd(UInt64(amount), ordering: .relaxed)
    }
    func reset() {}
}

/// A level, kept as the bits of an Int64.
private final class SlotGauge: MeterHandler, RecorderHandler, @unchecked Sendable {
    let value: UnsafeMutablePointer<Atomic<UInt64>>?
    init(_ value: UnsafeMutablePointer<Atomic<UInt64>>?) { self.value = value }
    func set(_ level: Int64) { value?.pointee.store(UInt64(bitPattern: level), ordering: .relaxed) }
    func set(_ level: Double) { if let level = Self.whole(level) { set(level) } }
    func record(_ level: Int64) { set(level) }
    func record(_ level: Double) { set(level) }
    func increment(by amount: Double) {
        if let amount = Self.whole(amount) { value?.pointee.wrappingAdd(UInt64(bitPattern: amount), ordering: .relaxed) }
    }
    func decrement(by amount: Double) {
        if let amount = Self.whole(amount) { value?.pointee.wrappingSubtract(UInt64(bitPattern: amount), ordering: .relaxed) }
    }

    /// A level as a whole number; nil for NaN and infinities (which `Int64(_:)` would trap on).
    private static func whole(_ value: Double) -> Int64? {
        value.isFinite && abs(value) < 9e18 ? Int64(value.rounded()) : nil
    }
}

private final class SlotHistogram: TimerHandler, @unchecked Sendable {
    let bounds: [Int64]
    /// Cumulative, as Prometheus shows them: one per bound, then `+Inf`.
    let buckets: [UnsafeMutablePointer<Atomic<UInt64>>?]
    let sum: UnsafeMutablePointer<Atomic<UInt64>>?
    let count: UnsafeMutablePointer<Atomic<UInt64>>?

    init(bounds: [Int64], buckets: [UnsafeMutablePointer<Atomic<UInt64>>?], sum: UnsafeMutablePointer<Atomic<UInt64>>?, count: UnsafeMutablePointer<Atomic<UInt64>>?) {
        self.bounds = bounds
        self.buckets = buckets
        self.sum = sum
        self.count = count
    }

    func recordNanoseconds(_ duration: Int64) {
        let duration = max(duration, 0)
        let first = bounds.firstIndex { duration <= $0 } ?? bounds.count
        for bucket in buckets[first...] { bucket?.pointee.wrappingAdd(1, ordering: .relaxed) }
        sum?.pointee.wrappingAdd(UInt64(duration), ordering: .relaxed)
        count?.pointee.wrappingAdd(1, ordering: .relaxed)
    }
}
