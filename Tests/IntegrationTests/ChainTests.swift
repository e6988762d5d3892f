import Foundation
import Testing

/// The self-trigger chain end to end: nginx, the three binaries, SQLite, libcurl triggers.
@Suite("Self-trigger chain", .serialized)
struct ChainTests {
    /// Two worker threads per binary, so that 50 chains at once are many more than the workers.
    static let stack = Result { try Stack.start(.init(threads: 2)) }

    @Test("A job created over HTTP completes with 12 sections and a vision")
    func jobCompletes() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "chain-user-1")
        let jobID = try stack.createJob(
            token: token, answers: ["fun": "I want to learn the cello", "money": "Save for a sabbatical"])
        let final = try stack.waitForJob(jobID, token: token)
        #expect(final["status"] as? String == "completed")
        #expect(final["categoriesCompleted"] as? Int == 12)
        #expect(final["categoriesFailed"] as? Int == 0)
        #expect(final["progress"] as? Int == 100)
        let categories = try #require(final["categories"] as? [[String: Any]])
        #expect(categories.map { $0["key"] as? String } == [
            "fun", "health", "travel", "love", "family", "social", "home", "work", "money", "possessions", "giving",
            "spirituality",
        ])
        #expect(categories.allSatisfy { $0["status"] as? String == "done" && $0["attempts"] as? Int == 1 })

        let visionID = try #require(final["visionId"] as? String)
        let vision = try stack.client.get("/api/visions?id=\(visionID)", token: token)
        #expect(vision.status == 200)
        let sections = try #require(vision.json?["sections"] as? [[String: Any]])
        #expect(sections.count == 12)
        #expect(sections.allSatisfy { !(($0["text"] as? String) ?? "").isEmpty })
        #expect((sections[0]["text"] as? String)?.contains("I learn the cello") == true)
        #expect((sections[8]["text"] as? String)?.contains("I save for a sabbatical") == true)
        let document = try #require(vision.json?["document"] as? String)
        #expect(document.hasPrefix("# My Life Vision"))
        #expect(document.components(separatedBy: "\n## ").count == 13)
    }

    @Test("The user's list shows the job, newest first, from any client")
    func listShowsJobs() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "chain-user-list")
        let first = try stack.createJob(token: token)
        try stack.waitForJob(first, token: token)
        let second = try stack.createJob(token: token)
        try stack.waitForJob(second, token: token)
        let list = try stack.client.get("/api/vision-jobs/list", token: token)
        #expect(list.status == 200)
        let jobs = try #require(list.json?["jobs"] as? [[String: Any]])
        #expect(jobs.map { $0["jobId"] as? String } == [second, first])
        #expect(try stack.client.get("/api/vision-jobs/list", token: stack.token(for: "someone-else")).json?["jobs"] as? [Any] != nil)
        let others = try stack.client.get("/api/vision-jobs/list", token: stack.token(for: "someone-else")).json?["jobs"] as? [Any]
        #expect(others?.isEmpty == true)
    }

    @Test("50 jobs started at once all complete: more chains than workers, no deadlock")
    func fiftyJobsAtOnce() throws {
        let stack = try Self.stack.get()
        let users = (0..<50).map { "burst-user-\($0)" }
        let ids = ThreadSafeArray<(String, String)>()
        let errors = ThreadSafeArray<String>()
        DispatchQueue.concurrentPerform(iterations: users.count) { index in
            let token = stack.token(for: users[index])
            do { ids.append((try stack.createJob(token: token), token)) } catch { errors.append("\(error)") }
        }
        #expect(errors.values.isEmpty, "\(errors.values)")
        #expect(ids.values.count == 50)
        for (id, token) in ids.values {
            let final = try stack.waitForJob(id, token: token, timeout: 120)
            #expect(final["status"] as? String == "completed", "job \(id): \(final)")
            #expect(final["categoriesCompleted"] as? Int == 12)
        }
    }

    @Test("The user's other devices see the same state: status is read from the store, not the session")
    func sameStateFromAnotherClient() throws {
        let stack = try Self.stack.get()
        let jobID = try stack.createJob(token: stack.token(for: "device-user"))
        // A second token for the same user, minted separately, as another device would hold.
        let otherDevice = stack.token(for: "device-user")
        let final = try stack.waitForJob(jobID, token: otherDevice)
        #expect(final["status"] as? String == "completed")
    }
}

/// The chain with a visible per-category delay, to look at a job mid-way.
@Suite("Chain with a slow generator", .serialized)
struct SlowChainTests {
    static let stack = Result { try Stack.start(.init(generatorDelayMillis: 150, threads: 4)) }

    @Test("Status mid-way shows partial progress consistent with the category states")
    func partialProgress() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "slow-user-1")
        let jobID = try stack.createJob(token: token)
        let midway = try stack.waitForJob(jobID, token: token) { status in
            let done = status["categoriesCompleted"] as? Int ?? 0
            return done >= 3 && done <= 10
        }
        #expect(midway["status"] as? String == "processing")
        let done = try #require(midway["categoriesCompleted"] as? Int)
        #expect(midway["progress"] as? Int == done * 100 / 12)
        let categories = try #require(midway["categories"] as? [[String: Any]])
        let states = categories.map { $0["status"] as? String ?? "" }
        // Written in order: a prefix done, at most one running, the rest waiting.
        #expect(states.prefix(done).allSatisfy { $0 == "done" })
        #expect(states.filter { $0 == "running" }.count <= 1)
        #expect(states.dropFirst(done + 1).allSatisfy { $0 == "pending" })
        // The category being written, or none in the moment between two.
        let current = midway["currentCategory"] as? String
        let running = categories.first { $0["status"] as? String == "running" }?["key"] as? String
        #expect(current == running)
        let final = try stack.waitForJob(jobID, token: token)
        #expect(final["status"] as? String == "completed")
    }

    @Test("Extra concurrent triggers for one job never write a category twice")
    func concurrentTriggers() throws {
        let stack = try Self.stack.get()
        let token = stack.token(for: "slow-user-2")
        let jobID = try stack.createJob(token: token)
        // Fire 30 extra triggers at the process endpoint while the chain runs.
        DispatchQueue.concurrentPerform(iterations: 30) { _ in
            _ = try? stack.client.postJSON(
                "/api/vision-jobs/process", ["jobId": jobID], headers: ["X-Trigger-Secret": Stack.triggerSecret])
            usleep(UInt32.random(in: 0...300_000))
        }
        let final = try stack.waitForJob(jobID, token: token)
        #expect(final["status"] as? String == "completed")
        let categories = try #require(final["categories"] as? [[String: Any]])
        #expect(categories.allSatisfy { $0["attempts"] as? Int == 1 }, "\(categories.map { $0["attempts"] ?? -1 })")
        #expect(final["categoriesCompleted"] as? Int == 12)
    }
}

/// A lock-protected array for collecting results from concurrent work in tests.
final class ThreadSafeArray<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Element] = []

    func append(_ element: Element) {
        lock.lock()
        storage.append(element)
        lock.unlock()
    }

    var values: [Element] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
