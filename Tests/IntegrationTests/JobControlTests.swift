import Foundation
import Testing
import VisionQueue

/// Retries, cancels and limits on concurrent writing, through the real stack.
@Suite("Job controls")
struct JobControlTests {
    @Test("A category that keeps failing is retried with backoff, then failed; retry re-runs only it")
    func retriesAndRetryEndpoint() throws {
        let stack = try Stack.start(
            .init(environment: ["VQ_FAULT_FAIL": "health:3", "VQ_RETRY_BASE_MS": "600", "VQ_MAX_ATTEMPTS": "3"]))
        defer { stack.stop() }
        let token = stack.token(for: "retry-user")
        let jobID = try stack.createJob(token: token)
        // The page can show "retrying (attempt 2 of 3)": the category waits out its backoff visibly.
        let retrying = try stack.waitForJob(jobID, token: token, timeout: 30) { status in
            let health = (status["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "health" }
            return health?["status"] as? String == "retrying"
        }
        let health = try #require((retrying["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "health" })
        #expect(health["nextAttemptAt"] as? String != nil)
        #expect(retrying["maxAttempts"] as? Int == 3)

        let ended = try stack.waitForJob(jobID, token: token, timeout: 60)
        #expect(ended["status"] as? String == "completed")
        #expect(ended["categoriesFailed"] as? Int == 1)
        #expect((ended["error"] as? String)?.contains("1 of 12") == true)
        let failed = try #require((ended["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "health" })
        #expect(failed["status"] as? String == "failed")
        #expect(failed["attempts"] as? Int == 3)
        let firstVision = try #require(ended["visionId"] as? String)

        // Another user cannot retry it, and gets the same 404 as for a job that does not exist.
        let intruder = try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": jobID], token: stack.token(for: "someone"))
        #expect(intruder.status == 404)
        #expect(intruder.errorCode == "job_not_found")

        let retry = try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": jobID], token: token)
        #expect(retry.status == 200, "\(retry)")
        let final = try stack.waitForJob(jobID, token: token, timeout: 30)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesFailed"] as? Int == 0)
        #expect(final["categoriesCompleted"] as? Int == 12)
        let rows = try stack.categoryRows(jobID)
        #expect(rows.filter { $0.key != "health" }.allSatisfy { $0.attempts == 1 }, "only the failed category ran again")
        let visionID = try #require(final["visionId"] as? String)
        #expect(visionID == firstVision, "the vision keeps its id, so saved links to it keep working")
        let vision = try stack.client.get("/api/visions?id=\(visionID)", token: token)
        let sections = vision.json?["sections"] as? [[String: Any]] ?? []
        #expect(sections.allSatisfy { $0["text"] is String })

        let again = try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": jobID], token: token)
        #expect(again.status == 409)
        #expect(again.errorCode == "nothing_to_retry")
    }

    @Test("A generator that fails twice then succeeds: 3 attempts recorded, the job completes with 12 sections")
    func failsTwiceThenSucceeds() throws {
        let stack = try Stack.start(.init(environment: ["VQ_FAULT_FAIL": "travel:2", "VQ_RETRY_BASE_MS": "100"]))
        defer { stack.stop() }
        let token = stack.token(for: "flaky-user")
        let jobID = try stack.createJob(token: token)
        let final = try stack.waitForJob(jobID, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesFailed"] as? Int == 0)
        #expect(final["error"] is NSNull)
        let travel = try #require((final["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "travel" })
        #expect(travel["attempts"] as? Int == 3)
        #expect(travel["status"] as? String == "done")
        let vision = try stack.client.get("/api/visions?id=\(final["visionId"] as? String ?? "")", token: token)
        #expect((vision.json?["sections"] as? [[String: Any]])?.allSatisfy { $0["text"] is String } == true)
    }

    @Test("A cancelled job never runs again, even when a trigger arrives later")
    func cancel() throws {
        let stack = try Stack.start(.init(generatorDelayMillis: 300))
        defer { stack.stop() }
        let token = stack.token(for: "cancel-user")
        let jobID = try stack.createJob(token: token)
        try stack.waitForJob(jobID, token: token, timeout: 30) { ($0["categoriesCompleted"] as? Int ?? 0) >= 2 }

        let intruder = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: stack.token(for: "other"))
        #expect(intruder.status == 404)

        let cancel = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: token)
        #expect(cancel.status == 200, "\(cancel)")
        #expect(cancel.json?["status"] as? String == "cancelled")
        let atCancel = try stack.status(jobID, token: token)
        let done = atCancel["categoriesCompleted"] as? Int ?? -1

        _ = try stack.client.postJSON(
            "/api/vision-jobs/process", ["jobId": jobID], headers: ["X-Trigger-Secret": Stack.triggerSecret])
        usleep(1_000_000)
        let later = try stack.status(jobID, token: token)
        #expect(later["status"] as? String == "cancelled")
        #expect(later["categoriesCompleted"] as? Int == done, "no category was written after the cancel")
        #expect(try stack.categoryRows(jobID).allSatisfy { $0.status != "running" })

        let retry = try stack.client.postJSON("/api/vision-jobs/retry", ["jobId": jobID], token: token)
        #expect(retry.status == 409)
        let cancelAgain = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: token)
        #expect(cancelAgain.status == 200)
    }

    @Test("Cancelling a finished job is a conflict")
    func cancelFinished() throws {
        let stack = try Stack.start()
        defer { stack.stop() }
        let token = stack.token(for: "cancel-finished")
        let jobID = try stack.createJob(token: token)
        try stack.waitForJob(jobID, token: token)
        let cancel = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: token)
        #expect(cancel.status == 409)
        #expect(cancel.errorCode == "job_finished")
    }

    @Test("At most K categories write at once across every worker; the rest wait and are not lost")
    func boundedConcurrency() throws {
        let stack = try Stack.start(
            .init(generatorDelayMillis: 250, threads: 4, processes: 2, environment: ["VQ_MAX_CONCURRENT_CATEGORIES": "2"]))
        defer { stack.stop() }
        let jobs = try (0..<6).map { index -> (String, String) in
            let token = stack.token(for: "bounded-\(index)")
            return (try stack.createJob(token: token), token)
        }
        let db = try stack.db()
        var highest: Int64 = 0
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let now = Clock.now()
            let writing = try db.row(
                "SELECT COUNT(*) FROM vision_job_categories WHERE status = 'running' AND lease_expires_at > ?",
                [.int(now)]) { $0.int(0) } ?? 0
            highest = max(highest, writing)
            let unfinished = try db.row(
                "SELECT COUNT(*) FROM vision_generation_jobs WHERE status IN ('pending', 'processing')") { $0.int(0) } ?? 0
            if unfinished == 0 { break }
            usleep(10_000)
        }
        #expect(highest == 2, "the limit was reached and never passed")
        for (id, token) in jobs {
            let final = try stack.status(id, token: token)
            #expect(final["status"] as? String == "completed")
        }
    }

    @Test("Concurrent creates, claims and polls never surface a busy database as a 5xx")
    func contention() throws {
        let stack = try Stack.start(.init(threads: 4, processes: 2))
        defer { stack.stop() }
        let statuses = ThreadSafeArray<Int>()
        let created = ThreadSafeArray<(String, String)>()
        DispatchQueue.concurrentPerform(iterations: 100) { index in
            let token = stack.token(for: "contention-\(index)")
            guard let response = try? stack.client.postJSON("/api/vision-jobs/create", ["answers": ["fun": "x"]], token: token)
            else { statuses.append(-1); return }
            statuses.append(response.status)
            guard let id = response.json?["jobId"] as? String else { return }
            created.append((id, token))
            for _ in 0..<5 {
                statuses.append((try? stack.client.get("/api/vision-jobs/status?jobId=\(id)", token: token).status) ?? -1)
            }
        }
        #expect(statuses.values.allSatisfy { (200..<500).contains($0) }, "\(statuses.values.filter { $0 >= 500 || $0 < 0 })")
        #expect(created.values.count == 100)
        for (id, token) in created.values {
            #expect(try stack.waitForJob(id, token: token, timeout: 120)["status"] as? String == "completed")
        }
        #expect(!stack.logText("vision-create").contains("database busy"))
        #expect(!stack.logText("vision-process").contains("failed: sqlite"))
    }
}
