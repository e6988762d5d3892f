import CoreMetrics
import Foundation
import Testing
@testable import VisionQueue

/// The metrics files without processes: a file per factory (as per process), the lock that tells
/// a live owner from a dead one, and what a scrape adds up.
@Suite("Metrics files")
struct SharedFileMetricsTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-metrics-\(UUID().uuidString)").path

    func steps(_ factory: MetricsFactory, _ outcome: String = "wrote") -> Counter {
        Counter(label: MetricFamily.steps.name, dimensions: [("outcome", outcome)], factory: factory)
    }

    @Test("Two owners' counters add up; a gone owner's counters stay and its gauges drop; a new owner counts on in its file")
    func ownersComeAndGo() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var first: SharedFileMetrics? = try SharedFileMetrics.standalone(directory: directory)
        let second = try SharedFileMetrics.standalone(directory: directory)
        steps(first!).increment(by: 5)
        steps(second).increment(by: 7)
        Meter(label: MetricFamily.triggersQueued.name, factory: first!).set(Int64(3))
        Meter(label: MetricFamily.triggersQueued.name, factory: second).set(Int64(4))
        Meter(label: MetricFamily.triggersQueued.name, factory: second).set(Double.nan)  // ignored, never a trap
        var scrape = MetricsScrape.read(directory: directory)
        #expect(scrape.value(.steps, [("outcome", "wrote")]) == 12)
        #expect(scrape.value(.triggersQueued) == 7)
        #expect(scrape.value(.processes) == 2)

        first = nil  // its process died: the file is unlocked
        scrape = MetricsScrape.read(directory: directory)
        #expect(scrape.value(.steps, [("outcome", "wrote")]) == 12, "a dead process's counts are kept")
        #expect(scrape.value(.triggersQueued) == 4, "its levels are not")
        #expect(scrape.value(.processes) == 1)

        let successor = try SharedFileMetrics.standalone(directory: directory)
        steps(successor).increment()
        scrape = MetricsScrape.read(directory: directory)
        #expect(scrape.value(.steps, [("outcome", "wrote")]) == 13)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 2, "the successor took the free file")
        withExtendedLifetime(second) {}
    }

    @Test("A timer is a Prometheus histogram: cumulative buckets in order, +Inf, the sum in seconds, the count")
    func histogram() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let metrics = try SharedFileMetrics.standalone(directory: directory)
        let timer = Timer(label: MetricFamily.stepDuration.name, dimensions: [("kind", "category")], factory: metrics)
        timer.recordNanoseconds(2_000_000)  // 2 ms
        timer.recordNanoseconds(400_000_000_000)  // 400 s: past the last bound
        timer.recordMilliseconds(20)
        let text = MetricsScrape.read(directory: directory).exposition()
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("vision_queue_step_duration_seconds") }
        #expect(lines.first == "vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"0.001\"} 0")
        #expect(lines.contains("vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"0.0025\"} 1"))
        #expect(lines.contains("vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"0.025\"} 2"))
        #expect(lines.contains("vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"300\"} 2"))
        #expect(lines.contains("vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"+Inf\"} 3"))
        #expect(lines.suffix(2) == ["vision_queue_step_duration_seconds_sum{kind=\"category\"} 400.022", "vision_queue_step_duration_seconds_count{kind=\"category\"} 3"])
        #expect(lines.count == MetricFamily.durationBuckets.count + 3)
        #expect(text.contains("# TYPE vision_queue_step_duration_seconds histogram\n"))
        withExtendedLifetime(metrics) {}
    }

    @Test("Every family is written with HELP and TYPE, even before anything was counted")
    func everyFamilyListed() {
        let text = MetricsScrape().exposition()
        for family in MetricFamily.all {
            #expect(text.contains("# HELP \(family.name) "))
            #expect(text.contains("# TYPE \(family.name) \(family.kind.rawValue)\n"))
        }
    }

    @Test("Label values are escaped, and read back as written")
    func labels() {
        let key = SeriesKey.render("x", [("b", "quote \" and \\ and\nline"), ("a", "1")])
        #expect(key == #"x{a="1",b="quote \" and \\ and\nline"}"#)
        let parsed = MetricsScrape.labels(SeriesKey.split(key).labels)
        #expect(parsed.map(\.0) == ["a", "b"])
        #expect(parsed.map(\.1) == ["1", "quote \" and \\ and\nline"])
    }

    @Test("A full file drops new series and keeps counting the old ones")
    func fullFile() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let metrics = try SharedFileMetrics.standalone(directory: directory)
        steps(metrics).increment()
        for index in 0..<MetricsFile.capacity {
            Counter(label: MetricFamily.responses.name, dimensions: [("endpoint", "e\(index)"), ("class", "2xx")], factory: metrics).increment()
        }
        steps(metrics).increment()
        let scrape = MetricsScrape.read(directory: directory)
        #expect(scrape.value(.steps, [("outcome", "wrote")]) == 2)
        #expect(scrape.samples.count == MetricsFile.capacity + 1, "the series that fit, and the processes gauge")
        withExtendedLifetime(metrics) {}
    }
}
