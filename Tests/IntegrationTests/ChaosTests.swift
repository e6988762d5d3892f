import Foundation
import Testing
import VisionQueue

/// Many jobs while process workers are killed at random: every job ends, every output is stored
/// exactly once, and no lease is left behind.
@Suite("Chaos")
struct ChaosTests {
    /// Both ways of holding the limit of categories writing at once: "6", fewer than the 2 x 4
    /// process threads, so the database counts running categories and no step reserves; and "0",
    /// no limit, where steps start from reservations, which kills end with their claims.
    @Test("200 jobs, kill -9 of a random process worker every few seconds: 200/200 complete", arguments: ["6", "0"])
    func randomKills(_ limit: String) throws {
        let stack = try Stack.start(
            .init(
                generatorDelayMillis: 40, threads: 4, processes: 2,
                environment: [
                    "VQ_LEASE_SECONDS": "2", "VQ_STALL_SECONDS": "1", "VQ_SWEEP_INTERVAL_SECONDS": "1",
                    "VQ_MAX_ATTEMPTS": "5", "VQ_MAX_CONCURRENT_CATEGORIES": limit,
                    // Few workers, so the jobs take long enough (about 15 s) for several kills to land
                    // mid-category; by default there would be one per category allowed at once.
                    "VQ_PROCESS_THREADS": "4",
                ]))
        defer { stack.stop() }
        try stack.auditOutputWrites()
        let started = Date()
        let jobs = ThreadSafeArray<(String, String)>()
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            let token = stack.token(for: "chaos-\(index)")
            if let id = try? stack.createJob(token: token, answers: ["fun": "chaos \(index)"]) { jobs.append((id, token)) }
        }
        #expect(jobs.values.count == 200)

        let db = try stack.db()
        var kills = 0
        var lastKill = Date()
        while Date().timeIntervalSince(started) < 240 {
            let unfinished = try db.row(
                "SELECT COUNT(*) FROM vision_generation_jobs WHERE status IN ('pending', 'processing')") { $0.int(0) } ?? 0
            if unfinished == 0 { break }
            if Date().timeIntervalSince(lastKill) > Double.random(in: 2...4) {
                if let pid = stack.pid(of: "vision-process", process: Int.random(in: 1...2)), kill(pid, SIGKILL) == 0 {
                    kills += 1
                }
                lastKill = Date()
            }
            usleep(100_000)
        }
        let elapsed = Date().timeIntervalSince(started)

        var completed = 0
        for (id, token) in jobs.values where (try? stack.status(id, token: token))?["status"] as? String == "completed" {
            completed += 1
        }
        let writes = try stack.outputWrites()
        let doubleWrites = writes.values.flatMap(\.values).filter { $0 != 1 }.count
        let categoriesWritten = writes.values.map(\.count).reduce(0, +)
        let reclaimed = try db.row(
            "SELECT COALESCE(SUM(total_attempts - 1), 0) FROM vision_job_categories WHERE total_attempts > 1") { $0.int(0) } ?? -1
        let lapsedLeases = try db.row(
            "SELECT COUNT(*) FROM vision_job_categories WHERE status = 'running' OR lease_token IS NOT NULL") { $0.int(0) } ?? -1
        print(
            "chaos: \(completed)/200 completed in \(String(format: "%.1f", elapsed)) s with \(kills) kill -9s; "
                + "\(categoriesWritten) outputs stored, \(doubleWrites) stored twice; \(reclaimed) attempts re-run after kills")
        #expect(kills >= 3, "the test must actually kill workers")
        #expect(completed == 200)
        #expect(categoriesWritten == 200 * 12)
        #expect(doubleWrites == 0)
        #expect(lapsedLeases == 0, "no job left holding a lease")
    }
}
