import Foundation
import Testing
import VisionQueue

/// Nothing lost: killed workers, lost triggers, paused workers, poison inputs, restarts. Each test
/// breaks the chain a different way, with real processes and real signals, and checks the job
/// still finishes with every category written exactly as often as it had to be.
@Suite("Recovery")
struct RecoveryTests {
    /// Short leases and stall windows so recovery happens in seconds, not minutes.
    static func fastRecovery(_ extra: [String: String] = [:]) -> [String: String] {
        ["VQ_LEASE_SECONDS": "2", "VQ_STALL_SECONDS": "1", "VQ_SWEEP_INTERVAL_SECONDS": "1", "VQ_RETRY_BASE_MS": "100"]
            .merging(extra) { $1 }
    }

    /// Both ways of holding the limit of categories writing at once: "2", fewer than the process's
    /// 4 threads, so the database counts running categories and each step claims; and "0", no
    /// limit, where every step after the first starts from the category the previous one
    /// reserved: a crash in such a step counts too.
    @Test("kill -9 of the process binary mid-category: the job completes, only that category ran twice", arguments: ["2", "0"])
    func killedWorker(_ limit: String) throws {
        let stack = try Stack.start(
            .init(generatorDelayMillis: 800, processes: 1, environment: Self.fastRecovery(["VQ_MAX_CONCURRENT_CATEGORIES": limit])))
        defer { stack.stop() }
        try stack.auditOutputWrites()
        let token = stack.token(for: "killed-worker")
        let jobID = try stack.createJob(token: token)
        // Kill while a category is early in its writing, so it cannot finish first.
        var victim: String?
        let deadline = Date().addingTimeInterval(30)
        while victim == nil && Date() < deadline {
            let rows = try stack.categoryRows(jobID)
            if rows.filter({ $0.status == "done" }).count >= 2,
                let running = rows.first(where: { $0.status == "running" }),
                let started = running.startedAt, Clock.now() - started < 300
            {
                let pid = try #require(stack.pid(of: "vision-process"))
                kill(pid, SIGKILL)
                victim = running.key
            }
            usleep(10_000)
        }
        let killed = try #require(victim)
        let final = try stack.waitForJob(jobID, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesCompleted"] as? Int == 12)
        let rows = try stack.categoryRows(jobID)
        for row in rows {
            #expect(row.status == "done")
            #expect(row.attempts == (row.key == killed ? 2 : 1), "\(row.key): \(row.attempts) attempts")
        }
        let writes = try stack.outputWrites()[jobID] ?? [:]
        #expect(writes.count == 12)
        #expect(writes.values.allSatisfy { $0 == 1 }, "each output stored exactly once: \(writes)")
    }

    @Test("kill -9 of a worker under serve with the default 60 s lease: its claim ends when it dies, and the category is taken up again long before the lease would lapse")
    func deadWorkersClaimEndsAtOnce() throws {
        let stack = try Stack.start(.init(generatorDelayMillis: 1_500, processes: 1, environment: ["VQ_LEASE_SECONDS": "60", "VQ_STALL_SECONDS": "60"]))
        defer { stack.stop() }
        let token = stack.token(for: "dead-worker")
        let jobID = try stack.createJob(token: token)
        var killedAt: EpochMillis?
        var leaseEnd: Int64 = 0
        var killed: String?
        let deadline = Date().addingTimeInterval(30)
        while killed == nil && Date() < deadline {
            let rows = try stack.db().rows(
                "SELECT position, lease_expires_at FROM vision_job_categories WHERE job_id = ? AND status = 'running'", [.text(jobID)]
            ) { ($0.int(0), $0.int(1)) }
            if let (position, expires) = rows.first {
                let pid = try #require(stack.pid(of: "vision-process"))
                kill(pid, SIGKILL)
                killedAt = Clock.now()
                leaseEnd = expires
                killed = VisionCategory.allCases[Int(position)].key
            }
            usleep(20_000)
        }
        let category = try #require(killed)
        // Taken up again: the same category claimed anew (a second attempt).
        var retakenAt: EpochMillis?
        let until = Date().addingTimeInterval(50)
        while retakenAt == nil && Date() < until {
            let attempts = try stack.db().row(
                "SELECT attempts, started_at FROM vision_job_categories WHERE job_id = ? AND category = ? AND status IN ('running', 'done')",
                [.text(jobID), .text(category)]) { $0.int(0) } ?? 0
            if attempts >= 2 { retakenAt = Clock.now() }
            usleep(50_000)
        }
        let retaken = try #require(retakenAt, "the category was not taken up again before its lease lapsed")
        #expect(retaken < leaseEnd, "taken up before the dead worker's lease would have lapsed")
        print("dead worker: \(category) taken up again \(retaken - (killedAt ?? retaken)) ms after kill -9 (its lease had \(leaseEnd - (killedAt ?? leaseEnd)) ms left)")
        #expect(try stack.waitForJob(jobID, token: token, timeout: 60)["status"] as? String == "completed")
        #expect(stack.serveOutput.contains("died holding 1 claim(s)"), "serve says what it did")
    }

    @Test("A category writing for longer than several leases keeps its claim: heartbeats renew it")
    func heartbeatsKeepALongCategory() throws {
        // Lease 2 s, each category takes 5 s: without heartbeats every category would be taken over.
        let stack = try Stack.start(.init(generatorDelayMillis: 5000, processes: 2, environment: Self.fastRecovery()))
        defer { stack.stop() }
        let token = stack.token(for: "long-category")
        let jobID = try stack.createJob(token: token)
        try stack.waitForJob(jobID, token: token, timeout: 30) { ($0["categoriesCompleted"] as? Int ?? 0) >= 2 }
        _ = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: token)
        let rows = try stack.categoryRows(jobID)
        #expect(rows.prefix(2).allSatisfy { $0.status == "done" && $0.attempts == 1 }, "\(rows.prefix(2))")
        #expect(!stack.logText("vision-process").contains("refused a stale write"))
    }

    @Test("Cancelling a job whose worker died: nothing runs after, not even when the sweep comes by")
    func cancelWhileOrphaned() throws {
        let stack = try Stack.start(.init(generatorDelayMillis: 1500, processes: 1, environment: Self.fastRecovery()))
        defer { stack.stop() }
        let token = stack.token(for: "orphan-cancel")
        let jobID = try stack.createJob(token: token)
        try stack.waitForJob(jobID, token: token, timeout: 30) { ($0["categoriesCompleted"] as? Int ?? 0) >= 1 }
        kill(try #require(stack.pid(of: "vision-process")), SIGKILL)
        let cancel = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": jobID], token: token)
        #expect(cancel.status == 200)
        let done = try stack.status(jobID, token: token)["categoriesCompleted"] as? Int
        // Several lease, stall and sweep windows pass, with polls that would heal a live job.
        for _ in 0..<10 {
            usleep(500_000)
            let status = try stack.status(jobID, token: token)
            #expect(status["status"] as? String == "cancelled")
            #expect(status["categoriesCompleted"] as? Int == done)
        }
        #expect(try stack.categoryRows(jobID).allSatisfy { $0.status != "running" })
    }

    @Test("Every trigger lost: the built-in sweep alone carries the job to the end")
    func lostTriggersRecoveredBySweep() throws {
        let stack = try Stack.start(.init(environment: Self.fastRecovery(["VQ_FAULT_DROP_TRIGGERS": "1"])))
        defer { stack.stop() }
        let token = stack.token(for: "lost-triggers-sweep")
        let jobID = try stack.createJob(token: token)
        // Watch through the list, which never re-triggers: progress can only come from the sweep.
        let final = try stack.waitViaList(jobID, token: token, timeout: 90)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesCompleted"] as? Int == 12)
        #expect(stack.logText("vision-process").contains("fault injection: dropped the trigger"))
    }

    @Test("Every trigger lost, no sweep: polling the status heals the job")
    func lostTriggersRecoveredByPolling() throws {
        let stack = try Stack.start(
            .init(environment: Self.fastRecovery(["VQ_FAULT_DROP_TRIGGERS": "1", "VQ_SWEEP_INTERVAL_SECONDS": "0"])))
        defer { stack.stop() }
        let token = stack.token(for: "lost-triggers-poll")
        let jobID = try stack.createJob(token: token)
        usleep(1_500_000)
        // Without a poll nothing moves: the chain is broken and nobody sweeps.
        let untouched = try stack.waitViaList(jobID, token: token, timeout: 5) { _ in true }
        #expect(untouched["status"] as? String == "pending")
        let final = try stack.waitForJob(jobID, token: token, timeout: 90)
        #expect(final["status"] as? String == "completed")
    }

    @Test("The sweep command (for cron) finds and triggers a stalled job")
    func sweepCommand() throws {
        let stack = try Stack.start(
            .init(environment: Self.fastRecovery(["VQ_FAULT_DROP_TRIGGERS": "1", "VQ_SWEEP_INTERVAL_SECONDS": "0"])))
        defer { stack.stop() }
        let token = stack.token(for: "sweep-command")
        let jobID = try stack.createJob(token: token)
        var passes = 0
        var lastChange = try stack.waitViaList(jobID, token: token, timeout: 5) { _ in true }["updatedAt"] as? String
        while passes < 40 {
            usleep(1_300_000)  // past the stall window (1 s) since the job last changed
            let output = try runSweep(stack)
            #expect(output.contains("triggered 1 stalled job"), "\(output)")
            passes += 1
            // The step that sweep triggered shows in the list (which, unlike status, never heals).
            let job = try stack.waitViaList(jobID, token: token, timeout: 10) { $0["updatedAt"] as? String != lastChange }
            lastChange = job["updatedAt"] as? String
            if job["status"] as? String == "completed" { break }
        }
        #expect(passes == 13, "one pass per step: 12 categories and the assembly")
    }

    @Test("SIGSTOP a worker past its lease: another takes over, the old worker's late write is refused")
    func pausedWorkerCannotOverwrite() throws {
        let stack = try Stack.start(.init(generatorDelayMillis: 3000, processes: 2, environment: Self.fastRecovery()))
        defer { stack.stop() }
        let token = stack.token(for: "paused-worker")
        let jobID = try stack.createJob(token: token)
        var paused: (key: String, pid: pid_t)?
        let deadline = Date().addingTimeInterval(20)
        while paused == nil && Date() < deadline {
            if let running = try stack.categoryRows(jobID).first(where: { $0.status == "running" }),
                let owner = running.leaseOwner, let pid = owner.split(separator: " ").last.flatMap({ pid_t($0) })
            {
                kill(pid, SIGSTOP)
                paused = (running.key, pid)
            }
            usleep(20_000)
        }
        let (key, pid) = try #require(paused)
        defer { kill(pid, SIGCONT) }
        // The lease lapses; a poll heals the job; the other process claims the category again.
        try stack.waitForJob(jobID, token: token, timeout: 30) { status in
            let categories = status["categories"] as? [[String: Any]] ?? []
            return categories.contains { $0["key"] as? String == key && $0["attempts"] as? Int == 2 }
        }
        kill(pid, SIGCONT)
        let final = try stack.waitForJob(jobID, token: token, timeout: 90)
        #expect(final["status"] as? String == "completed")
        let rows = try stack.categoryRows(jobID)
        #expect(rows.first { $0.key == key }?.attempts == 2)
        #expect(rows.filter { $0.key != key }.allSatisfy { $0.attempts == 1 })
        #expect(stack.logText("vision-process").contains("refused a stale write of \(key) for job \(jobID)"))
    }

    @Test("A poison input that kills its worker fails after N attempts; other jobs finish")
    func poisonInput() throws {
        let stack = try Stack.start(
            .init(generatorDelayMillis: 100, processes: 2, environment: Self.fastRecovery(["VQ_FAULT_CRASH": "POISON"])))
        defer { stack.stop() }
        let poisoned = stack.token(for: "poison-user")
        let healthy = stack.token(for: "healthy-user")
        let poisonJob = try stack.createJob(token: poisoned, answers: ["fun": "Dancing", "health": "POISON pill"])
        let healthyJob = try stack.createJob(token: healthy, answers: ["health": "Swimming"])
        let other = try stack.waitForJob(healthyJob, token: healthy, timeout: 90)
        #expect(other["status"] as? String == "completed")
        #expect(other["categoriesFailed"] as? Int == 0)
        let final = try stack.waitForJob(poisonJob, token: poisoned, timeout: 90)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesCompleted"] as? Int == 11)
        #expect(final["categoriesFailed"] as? Int == 1)
        let health = try #require((final["categories"] as? [[String: Any]])?.first { $0["key"] as? String == "health" })
        #expect(health["status"] as? String == "failed")
        #expect(health["attempts"] as? Int == 3)
        #expect((health["error"] as? String)?.contains("stopped 3 times") == true)
        let vision = try stack.client.get("/api/visions?id=\(final["visionId"] as? String ?? "")", token: poisoned)
        let sections = vision.json?["sections"] as? [[String: Any]] ?? []
        #expect(sections.count == 12)
        #expect(sections.first { $0["key"] as? String == "health" }?["text"] is NSNull)
    }

    @Test("SIGTERM mid-category with a short grace: the claim is released and the category resumes at once")
    func deployReleasesClaim() throws {
        let stack = try Stack.start(
            .init(
                generatorDelayMillis: 4000, processes: 1,
                environment: ["VQ_SHUTDOWN_GRACE_SECONDS": "1", "VQ_LEASE_SECONDS": "60", "VQ_STALL_SECONDS": "60"]))
        defer { stack.stop() }
        let token = stack.token(for: "deploy-user")
        let jobID = try stack.createJob(token: token)
        try stack.waitForJob(jobID, token: token, timeout: 20) { ($0["categoriesCompleted"] as? Int ?? 0) >= 1 }
        // The next category is claimed a moment after the previous one is stored: wait for it.
        var running: Stack.CategoryRow?
        let deadline = Date().addingTimeInterval(10)
        while running == nil && Date() < deadline {
            running = try stack.categoryRows(jobID).first { $0.status == "running" }
            if running == nil { usleep(20_000) }
        }
        let writing = try #require(running)
        kill(try #require(stack.pid(of: "vision-process")), SIGTERM)
        // With a 60 s lease and stall window, only the released claim can explain a quick resumption.
        try stack.waitForJob(jobID, token: token, timeout: 20) { status in
            let categories = status["categories"] as? [[String: Any]] ?? []
            return categories.contains { $0["key"] as? String == writing.key && $0["status"] as? String == "done" }
        }
        let row = try #require(try stack.categoryRows(jobID).first { $0.key == writing.key })
        #expect(row.attempts == 1, "a release is not a failed attempt")
        #expect(stack.logText("vision-process").contains("released 1 unfinished claim"))
    }

    @Test("A stopped service resumes every unfinished job when it starts again, with no manual step")
    func restartResumes() throws {
        let first = try Stack.start(.init(generatorDelayMillis: 300, environment: ["VQ_STALL_SECONDS": "600"]))
        let token = first.token(for: "restart-user")
        let jobID = try first.createJob(token: token)
        try first.waitForJob(jobID, token: token, timeout: 30) { ($0["categoriesCompleted"] as? Int ?? 0) >= 2 }
        // As when the first start's own pass kicked the new job: that kick's trigger dies with the
        // stop, so it must not hold back the next start's pass for the 600 s kick window.
        _ = try first.db().run(
            "UPDATE vision_generation_jobs SET last_kick_at = ? WHERE id = ?", [.int(Clock.now()), .text(jobID)])
        first.stop()
        let second = try Stack.start(
            .init(generatorDelayMillis: 0, environment: ["VQ_STALL_SECONDS": "600"], dataDirectory: first.dataDirectory, database: first.database))
        defer { second.stop() }
        // No status polls (they could heal it): the start-up sweep must resume it.
        let final = try second.waitViaList(jobID, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesCompleted"] as? Int == 12)
    }

    @Test("A 201 survives kill -9 of every process the next instant")
    func durableCreate() throws {
        let first = try Stack.start(.init(environment: ["VQ_FAULT_DROP_TRIGGERS": "1"]))
        let token = first.token(for: "durable-user")
        let jobID = try first.createJob(token: token)
        first.killEverything()
        let second = try Stack.start(.init(dataDirectory: first.dataDirectory, database: first.database))
        defer { second.stop() }
        let final = try second.waitViaList(jobID, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
    }

    private func runSweep(_ stack: Stack) throws -> String {
        let output = stack.dataDirectory + "/sweep.out"
        try? FileManager.default.removeItem(atPath: output)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VQ_") }
        environment["VQ_DATA_DIR"] = stack.dataDirectory
        environment["VQ_PORT"] = String(stack.port)
        environment["VQ_TRIGGER_SECRET"] = Stack.triggerSecret
        environment["VQ_STALL_SECONDS"] = "1"
        environment.merge(stack.database.environment) { $1 }
        let pid = try Stack.spawnInOwnGroup(Stack.binDirectory + "/vision-queue", ["sweep"], environment: environment, output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}
