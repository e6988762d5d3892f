import Foundation
import Testing
@testable import VisionQueue

/// What only the SQLite store has: its file, its schema version, rows edited behind its back. The
/// store's behaviour on every backend is `StoreConformanceTests` (IntegrationTests). Each test gets
/// its own instance, hence its own database file, removed when the test ends.
@Suite("SQLJobStore on SQLite")
final class SQLiteJobStoreTests {
    let lifecycle = JobLifecycle(policy: RetryPolicy(maxAttempts: 3, leaseMillis: 60_000, backoffBaseMillis: 1_000))
    let file = TemporaryDatabase()
    let store: SQLJobStore

    init() throws {
        store = try SQLJobStore.sqlite(path: file.path)
    }

    deinit { file.remove() }

    private func claim(_ store: SQLJobStore, _ id: JobID, at now: EpochMillis, lifecycle: JobLifecycle? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> CategoryClaim {
        let result = try store.claimNextCategory(of: id, now: now, lifecycle: lifecycle ?? self.lifecycle)
        guard case .claimed(let claim) = result else {
            Issue.record("expected a claim, got \(result)", sourceLocation: sourceLocation)
            throw ClaimFailed()
        }
        return claim
    }

    private struct ClaimFailed: Error {}

    private func stored(_ store: SQLJobStore, _ id: JobID, owner: String = "alice") throws -> Job {
        try #require(try store.job(id, ownedBy: owner))
    }

    // MARK: Reopening

    @Test func reopeningAnExistingFileKeepsDataAndDoesNotMigrateAgain() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [.fun: "Dance"]), now: t0).id
        let first = try claim(store, id, at: t0)
        #expect(try store.recordSuccess(first, output: "Fun", now: t0))
        for _ in 0..<3 {
            let reopened = try SQLJobStore.sqlite(path: file.path)
            let job = try #require(try reopened.job(id, ownedBy: "alice"))
            #expect(job.categoriesCompleted == 1)
            #expect(job.categories[0].state == .done)
        }
        let connection = try SQLiteConnection(path: file.path)
        #expect(try connection.row("PRAGMA user_version") { $0.int(0) } == Int64(SQLiteSchema.version))
        #expect(try connection.row("SELECT count(*) FROM vision_generation_jobs") { $0.int(0) } == 1)
    }

    @Test func aSchemaNewerThanThisBuildIsRefused() throws {
        try SQLiteConnection(path: file.path).execute("PRAGMA user_version = 99")
        #expect(throws: StoreError.schemaTooNew(found: 99, supported: SQLiteSchema.version)) {
            try SQLJobStore.sqlite(path: file.path)
        }
    }

    // MARK: Rows that do not parse

    /// Runs SQL behind the store's back, as a hand edit or a broken disk would.
    private func tamper(_ sql: String, _ values: [SQLValue] = []) throws {
        let db = try SQLiteConnection(path: file.path)
        try db.writeTransaction { () throws(StoreError) in _ = try db.run(sql, values) }
    }

    private func isCorruptRow(_ error: any Error) -> Bool {
        if case StoreError.corruptRow = error { return true }
        return false
    }

    @Test func aJobWhoseIDIsNotAUUIDIsAnErrorNotAJobWithANewID() throws {
        try tamper(
            """
            INSERT INTO vision_generation_jobs (id, user_id, status, input, created_at_ms, updated_at)
            VALUES ('not-a-uuid', 'mallory', 'pending', '{}', ?, ?)
            """, [.int(t0), .int(t0)])
        let error = #expect(throws: StoreError.self) { try self.store.jobs(ownedBy: "mallory", limit: 10) }
        #expect(error.map(isCorruptRow) == true, "got \(String(describing: error))")
        #expect(try store.jobs(ownedBy: "alice", limit: 10).isEmpty, "other users' reads are unaffected")
    }

    @Test func storedNotesThatAreNotJSONFailTheClaimInsteadOfBeingWrittenFromNothing() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [.fun: "Dance"]), now: t0).id
        try tamper("UPDATE vision_generation_jobs SET input = 'not json' WHERE id = ?", [.text(id.rawValue)])
        let error = #expect(throws: StoreError.self) { try self.store.claimNextCategory(of: id, now: t0, lifecycle: self.lifecycle) }
        #expect(error.map(isCorruptRow) == true, "got \(String(describing: error))")
        #expect(try stored(store, id).categories.allSatisfy { $0.state == .pending }, "the failed claim wrote nothing")
    }

    @Test func aCategoryInAnUnknownPositionIsAnError() throws {
        let id = try store.createJob(NewJob(userID: "alice", notes: [:]), now: t0).id
        try tamper("UPDATE vision_job_categories SET position = 40 WHERE job_id = ? AND position = 3", [.text(id.rawValue)])
        let error = #expect(throws: StoreError.self) { try self.store.job(id, ownedBy: "alice") }
        #expect(error.map(isCorruptRow) == true, "got \(String(describing: error))")
    }
}
