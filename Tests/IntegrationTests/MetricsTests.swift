import Foundation
import Testing
import VisionQueue

/// `/metrics` on the real stack: what a known workload must show, summed over every process, and
/// who may scrape.
@Suite("Metrics", .serialized)
struct MetricsTests {
    /// The samples of a scrape, by series as written (`name{labels}`).
    static func scrape(_ stack: Stack, token: String? = nil) throws -> [String: Double] {
        let response = try stack.client.get("/metrics", token: token)
        guard response.status == 200 else { throw HTTPClient.Failure(description: "scrape: \(response)") }
        var samples: [String: Double] = [:]
        for line in response.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test("After N jobs with K injected failures the counters say exactly that, across processes and after a worker was replaced")
    func knownWorkload() throws {
        // `work` fails its first 2 attempts in every job (attempts are counted per job): K = 2 a job.
        let stack = try Stack.start(.init(environment: ["VQ_FAULT_FAIL": "work:2", "VQ_RETRY_BASE_MS": "10", "VQ_MAX_ACTIVE_JOBS": "50"]))
        defer { stack.stop() }
        let token = stack.token(for: "metrics-user")
        func run(_ count: Int) throws {
            let jobs = try (0..<count).map { _ in try stack.createJob(token: token) }
            for job in jobs { #expect(try stack.waitForJob(job, token: token)["status"] as? String == "completed") }
        }
        func expectCounts(jobs n: Int, _ when: String) throws {
            // The last step's counters are written just after its answer: give them a moment.
            var samples: [String: Double] = [:]
            for _ in 0..<50 {
                samples = try Self.scrape(stack)
                if samples["vision_queue_jobs_ended_total{status=\"completed\"}"] == Double(n) { break }
                usleep(100_000)
            }
            let n = Double(n)
            #expect(samples["vision_queue_jobs_ended_total{status=\"completed\"}"] == n, "\(when)")
            #expect(samples["vision_queue_jobs{status=\"completed\"}"] == n, "\(when)")
            #expect(samples["vision_queue_steps_total{outcome=\"wrote\"}"] == 12 * n, "\(when)")
            #expect(samples["vision_queue_steps_total{outcome=\"failed_attempt\"}"] == 2 * n, "\(when)")
            #expect(samples["vision_queue_steps_total{outcome=\"finished\"}"] == n, "\(when)")
            #expect(samples["vision_queue_attempt_failures_total{reason=\"injected\",then=\"retry\"}"] == 2 * n, "\(when)")
            #expect(samples["vision_queue_attempt_failures_total{reason=\"injected\",then=\"fail\"}"] == nil, "\(when)")
            #expect(samples["vision_queue_step_duration_seconds_count{kind=\"category\"}"] == 14 * n, "\(when)")
            #expect(samples["vision_queue_step_duration_seconds_bucket{kind=\"category\",le=\"+Inf\"}"] == 14 * n, "\(when)")
            #expect(samples["vision_queue_step_duration_seconds_count{kind=\"assembly\"}"] == n, "\(when)")
            #expect(samples["vision_queue_http_responses_total{class=\"2xx\",endpoint=\"/api/vision-jobs/create\"}"] == n, "\(when)")
            #expect((samples["vision_queue_http_responses_total{class=\"2xx\",endpoint=\"/api/vision-jobs/process\"}"] ?? 0) >= 15 * n, "\(when)")
            #expect((samples["vision_queue_triggers_sent_total{result=\"accepted\"}"] ?? 0) >= 14 * n, "\(when)")
            #expect(samples["vision_queue_processes"].map { $0 >= 7 } == true, "three binaries x 2 and serve count: \(when)")
        }

        try run(6)
        try expectCounts(jobs: 6, "after the first jobs")
        let steps = try Self.scrape(stack)["vision_queue_steps_total{outcome=\"wrote\"}"]
        #expect(steps == 72, "both vision-process processes wrote: the sum is whole")

        // Replace a worker outright; its counts stay, its successor counts on.
        let victim = try #require(stack.pid(of: "vision-process", process: 1))
        kill(victim, SIGKILL)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && (stack.pid(of: "vision-process", process: 1) ?? victim) == victim { usleep(50_000) }
        #expect(stack.pid(of: "vision-process", process: 1) != victim, "serve started a new worker")
        try run(4)
        try expectCounts(jobs: 10, "after a worker was killed and replaced")
        let files = try FileManager.default.contentsOfDirectory(atPath: stack.dataDirectory + "/metrics")
        #expect(files.count <= 8, "the new worker took over the dead one's file: \(files)")
    }

    @Test("Only this machine may scrape; with VQ_METRICS_TOKEN any address may, with the token, and nobody without it")
    func access() throws {
        let closed = try Stack.start()
        defer { closed.stop() }
        #expect(try closed.client.get("/metrics").status == 200)
        var remote = closed.client
        remote.sourceAddress = "127.0.0.2"
        let refused = try remote.get("/metrics")
        #expect(refused.status == 403 && refused.errorCode == "forbidden", "\(refused)")
        #expect(try remote.get("/metrics", token: "whatever-token-1234567890").status == 403)

        let token = "metrics-token-0123456789abcdef"
        let open = try Stack.start(.init(environment: ["VQ_METRICS_TOKEN": token]))
        defer { open.stop() }
        var remoteToOpen = open.client
        remoteToOpen.sourceAddress = "127.0.0.2"
        let without = try remoteToOpen.get("/metrics")
        #expect(without.status == 401 && without.errorCode == "unauthorized", "\(without)")
        #expect(try remoteToOpen.get("/metrics", token: "metrics-token-0123456789abcdeX").status == 401)
        #expect(try open.client.get("/metrics").status == 401, "loopback needs the token too once one is set")
        let scraped = try remoteToOpen.get("/metrics", token: token)
        #expect(scraped.status == 200)
        #expect(scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(scraped.text.contains("# TYPE vision_queue_steps_total counter"))
        #expect(!(open.logs().contains(token)), "the token never reaches a log")
        // A user's token is no metrics token.
        #expect(try remoteToOpen.get("/metrics", token: open.token(for: "someone")).status == 401)
    }
}
