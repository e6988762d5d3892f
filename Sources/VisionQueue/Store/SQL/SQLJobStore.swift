import Crypto
import FoundationEssentials
import Glibc

/// `JobStore` in SQL: one copy of the statements for SQLite and PostgreSQL, in the SQL both
/// read, over one thread's `SQLDatabase`. The decisions are `JobLifecycle`'s; where correctness
/// rests on no one else writing meanwhile (a user's limits, a job's next claim, the cap on running
/// categories) it takes the database's locks first (`lockKey`, `lockJob`).
public final class SQLJobStore: JobStore {
    let db: any SQLDatabase
    /// Recorded on each claim (`lease_owner`) so an operator can see which process holds a category.
    let owner: String
    /// Whether a run's ending writes a webhook event (`VQ_WEBHOOK_URL` is set).
    let recordsWebhookEvents: Bool

    public init(database: any SQLDatabase, owner: String = ClaimOwner.current, webhookEvents: Bool = false) {
        db = database
        self.owner = owner
        recordsWebhookEvents = webhookEvents
    }

    /// A store on the SQLite file at `path`; `migrating` brings its schema up to date first (what
    /// `JobStoreFactory.migrate` does once per process; tools and tests do it on open).
    public static func sqlite(
        path: String, durability: SQLiteDurability = .full, busyTimeoutMillis: Int32 = 5_000,
        owner: String = ClaimOwner.current, migrating: Bool = true, webhookEvents: Bool = false
    ) throws(StoreError) -> SQLJobStore {
        let db = try SQLiteConnection(path: path, busyTimeoutMillis: busyTimeoutMillis, durability: durability)
        if migrating { try SQLiteSchema.migrate(db) }
        return SQLJobStore(database: db, owner: owner, webhookEvents: webhookEvents)
    }

    // MARK: Creating and reading

    /// A job's stored notes, read back; unreadable ones are a corrupt row.
    static func notes(_ stored: String) throws(StoreError) -> [VisionCategory: String] {
        do {
            return try StoredNotes.decode(stored)
        } catch {
            throw .corruptRow(error.description)
        }
    }

    public func createJob(_ newJob: NewJob, limits: CreateLimits, now: EpochMillis) throws(StoreError) -> CreateOutcome {
        let input = StoredNotes.encode(newJob.notes)
        let requestHash = Self.hash(input)
        return try db.writeTransaction { () throws(StoreError) -> CreateOutcome in
            // The user's limits and keys are read, then a job is written: no other create of the
            // same user in between.
            try db.lockKey("user:" + newJob.userID)
            if let key = newJob.idempotencyKey,
                let (id, hash) = try db.row(
                    "SELECT id, request_hash FROM vision_generation_jobs WHERE user_id = ? AND idempotency_key = ?",
                    [.text(newJob.userID), .text(key)], { ($0.text(0), $0.text(1)) })
            {
                guard hash == requestHash, let jobID = JobID(id), let job = try loadJob(jobID, ownedBy: newJob.userID) else {
                    return .idempotencyKeyReused
                }
                return .replayed(job)
            }
            if limits.maxActiveJobs < Int.max {
                let active = try db.rows(
                    """
                    SELECT \(Self.jobColumns) FROM vision_generation_jobs
                    WHERE user_id = ? AND status IN ('pending', 'processing') ORDER BY created_at_ms DESC
                    """, [.text(newJob.userID)], Self.readJob)
                if active.count >= limits.maxActiveJobs, let newest = active.first { return .existingActive(newest) }
            }
            if let retryAfter = try hourlyLimitRetryAfter(newJob.userID, limits, now: now) {
                return .rateLimited(retryAfterSeconds: retryAfter)
            }
            let id = JobID.timeOrdered()
            try db.run(
                """
                INSERT INTO vision_generation_jobs
                    (id, user_id, status, input, created_at_ms, updated_at, idempotency_key, request_hash)
                VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)
                """,
                [.text(id.rawValue), .text(newJob.userID), .text(input), .int(now), .int(now),
                 .optional(newJob.idempotencyKey), .text(requestHash)])
            // The twelve categories in one statement: one round trip to a database over the network.
            try db.run(
                "INSERT INTO vision_job_categories (job_id, position, category, status, updated_at) VALUES "
                    + Array(repeating: "(?, ?, ?, 'pending', ?)", count: VisionCategory.count).joined(separator: ", "),
                VisionCategory.allCases.flatMap { category -> [SQLValue] in
                    [.text(id.rawValue), .int(Int64(category.position)), .text(category.key), .int(now)]
                })
            return .created(
                Job(
                    id: id, userID: newJob.userID, status: .pending, currentCategory: nil, categoriesCompleted: 0,
                    categoriesFailed: 0, visionID: nil, error: nil, createdAt: now, startedAt: nil, completedAt: nil,
                    updatedAt: now, version: 0,
                    categories: VisionCategory.allCases.map { CategoryProgress(category: $0, state: .pending, attempts: 0) }))
        }
    }

    /// Seconds until the user may start another run when the last hour's creates, retries and
    /// rewrites reached the hourly limit; nil while below it.
    func hourlyLimitRetryAfter(_ userID: String, _ limits: CreateLimits, now: EpochMillis) throws(StoreError) -> Int? {
        guard limits.maxCreatesPerHour < Int.max else { return nil }
        let hourAgo = now - 3_600_000
        let recent = try db.rows(
            """
            SELECT at FROM (
                SELECT created_at_ms AS at FROM vision_generation_jobs WHERE user_id = ? AND created_at_ms > ?
                UNION ALL
                SELECT at FROM vision_job_reruns WHERE user_id = ? AND at > ?
            ) AS runs ORDER BY at DESC LIMIT ?
            """, [.text(userID), .int(hourAgo), .text(userID), .int(hourAgo), .int(Int64(limits.maxCreatesPerHour))]) { $0.int(0) }
        guard recent.count >= limits.maxCreatesPerHour, let oldest = recent.last else { return nil }
        return Int((oldest - hourAgo + 999) / 1000)
    }

    /// The request's fingerprint for idempotency: SHA-256 of the stored (canonical) notes.
    static func hash(_ input: String) -> String {
        SHA256.hash(data: Array(input.utf8)).hexString
    }

    static let jobColumns = """
        id, user_id, status, current_category, categories_completed, categories_failed, vision_id, error,
        created_at_ms, started_at_ms, completed_at_ms, updated_at, version, prompt_tokens, completion_tokens, assembly_note
        """

    static func readJob(_ row: any SQLRow) throws(StoreError) -> Job {
        Job(
            id: try row.jobID(0),
            userID: row.text(1),
            status: try row.jobStatus(2),
            currentCategory: try row.optionalCategory(3),
            categoriesCompleted: Int(row.int(4)),
            categoriesFailed: Int(row.int(5)),
            visionID: row.optionalText(6),
            error: row.optionalText(7),
            createdAt: row.int(8),
            startedAt: row.optionalInt(9),
            completedAt: row.optionalInt(10),
            updatedAt: row.int(11),
            version: row.int(12),
            usage: TokenUsage(promptTokens: row.int(13), completionTokens: row.int(14)),
            assemblyNote: row.optionalText(15),
            categories: [])
    }

    public func job(_ id: JobID, ownedBy userID: String) throws(StoreError) -> Job? {
        try loadJob(id, ownedBy: userID)
    }

    public func jobVersion(_ id: JobID, ownedBy userID: String) throws(StoreError) -> Int64? {
        try db.row(
            "SELECT version FROM vision_generation_jobs WHERE id = ? AND user_id = ?", [.text(id.rawValue), .text(userID)]
        ) { $0.int(0) }
    }

    private static let jobWithCategories = """
        SELECT \(jobColumns.split(separator: ",").map { "j." + $0.trimmed }.joined(separator: ", ")),
            c.position, c.status, c.attempts, c.error, c.started_at, c.completed_at, c.next_attempt_at, c.lease_expires_at,
            c.partial_output, c.waiting_until, c.waiting_reason, c.truncated, c.prompt_tokens, c.completion_tokens
        FROM vision_generation_jobs j JOIN vision_job_categories c ON c.job_id = j.id
        WHERE j.id = ? AND j.user_id = ? ORDER BY c.position
        """

    /// The job with its categories, in one statement (and so one consistent snapshot): this is
    /// what every status poll runs.
    private func loadJob(_ id: JobID, ownedBy userID: String) throws(StoreError) -> Job? {
        var job: Job?
        let categories = try db.rows(Self.jobWithCategories, [.text(id.rawValue), .text(userID)]) {
            row throws(StoreError) -> CategoryProgress in
            if job == nil { job = try Self.readJob(row) }
            return CategoryProgress(
                category: try row.category(position: 16),
                state: try row.categoryState(17),
                attempts: Int(row.int(18)),
                error: row.optionalText(19),
                startedAt: row.optionalInt(20),
                completedAt: row.optionalInt(21),
                nextAttemptAt: row.optionalInt(22),
                leaseExpiresAt: row.optionalInt(23),
                partialText: row.optionalText(24),
                waitingUntil: row.optionalInt(25),
                waitingReason: row.optionalText(26),
                truncated: row.int(27) != 0,
                usage: TokenUsage(promptTokens: row.int(28), completionTokens: row.int(29)))
        }
        job?.categories = categories
        return job
    }

    public func jobs(ownedBy userID: String, limit: Int) throws(StoreError) -> [Job] {
        try db.rows(
            """
            SELECT \(Self.jobColumns) FROM vision_generation_jobs
            WHERE user_id = ? ORDER BY created_at_ms DESC, id LIMIT ?
            """, [.text(userID), .int(Int64(limit))], Self.readJob)
    }

    public func vision(_ id: String, version: Int?, ownedBy userID: String) throws(StoreError) -> Vision? {
        // Versions are 32-bit INTEGER columns: a larger one does not exist (and PostgreSQL would
        // refuse to compare it).
        if let version, version > Int(Int32.max) { return nil }
        return try db.readTransaction { () throws(StoreError) -> Vision? in
            let columns = VisionCategory.allCases.map(\.key).joined(separator: ", ")
            let current = "SELECT id, user_id, job_id, document, created_at, version, \(columns) FROM visions WHERE id = ? AND user_id = ?"
            let earlier = """
                SELECT vision_id, user_id, job_id, document, created_at, version, \(columns) FROM vision_versions
                WHERE vision_id = ? AND user_id = ? AND version = ?
                """
            let latest = try db.row("SELECT version FROM visions WHERE id = ? AND user_id = ?", [.text(id), .text(userID)]) { Int($0.int(0)) }
            guard let latest else { return nil }
            let wanted = version ?? latest
            let read = { (row: any SQLRow) throws(StoreError) -> Vision in
                var sections: [VisionCategory: String] = [:]
                for category in VisionCategory.allCases {
                    if let text = row.optionalText(Int32(6 + category.position)) { sections[category] = text }
                }
                return Vision(
                    id: row.text(0), userID: row.text(1), jobID: try row.jobID(2), sections: sections, document: row.text(3),
                    createdAt: row.int(4), version: Int(row.int(5)))
            }
            guard
                var vision = wanted == latest
                    ? try db.row(current, [.text(id), .text(userID)], read)
                    : try db.row(earlier, [.text(id), .text(userID), .int(Int64(wanted))], read)
            else { return nil }
            vision.versions = try db.rows(
                """
                SELECT version, created_at FROM vision_versions WHERE vision_id = ? AND user_id = ?
                UNION ALL SELECT version, created_at FROM visions WHERE id = ? AND user_id = ?
                ORDER BY version
                """, [.text(id), .text(userID), .text(id), .text(userID)]) { VisionVersion(version: Int($0.int(0)), createdAt: $0.int(1)) }
            return vision
        }
    }

    // MARK: Claiming and recording

    public func claimNextCategory(of id: JobID, now: EpochMillis, lifecycle: JobLifecycle) throws(StoreError) -> ClaimResult {
        // Not synced to disk on its own: a claim lost to a power cut only means the category is
        // claimed again. The result written after it is durable, and syncs this with it.
        try db.writeTransaction(durable: false) { () throws(StoreError) -> ClaimResult in
            // One claim of a job at a time: the categories are read, decided on, then written.
            try db.lockJob(id)
            guard
                let (userID, status, input) = try db.row(
                    "SELECT user_id, status, input FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)],
                    { row throws(StoreError) in (row.text(0), try row.jobStatus(1), row.text(2)) })
            else { return .notFound }
            while true {
                let records = try categoryRecords(of: id)
                var step = lifecycle.nextStep(jobStatus: status, categories: records, now: now)
                if case .run = step, let limit = lifecycle.maxConcurrentCategories {
                    // Counted, then a category started: no other claim anywhere in between.
                    try db.lockKey("running-categories")
                    let writing = try db.row(
                        "SELECT COUNT(*) FROM vision_job_categories WHERE status = 'running' AND lease_expires_at > ?",
                        [.int(now)]) { $0.int(0) } ?? 0
                    step = lifecycle.nextStep(
                        jobStatus: status, categories: records, now: now, capacityAvailable: writing < limit)
                }
                switch step {
                case .finished: return .finished
                case .throttled: return .throttled
                case .leasedElsewhere(let until): return .leasedElsewhere(leaseExpiresAt: until)
                case .wait(let until): return .wait(until: until)
                case .assemble: return .readyToAssemble
                case .giveUp(let category, let reason):
                    try settleFailed(id, category, error: reason, now: now)
                case .run(let category, let attempt):
                    let token = CategoryClaim.newLeaseToken()
                    let expires = now + lifecycle.policy.leaseMillis
                    let totalAttempts = try db.row(
                        """
                        UPDATE vision_job_categories
                        SET status = 'running', attempts = ?, total_attempts = total_attempts + 1, lease_token = ?,
                            lease_owner = ?, lease_expires_at = ?, next_attempt_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL,
                            started_at = COALESCE(started_at, ?), updated_at = ?
                        WHERE job_id = ? AND position = ?
                        RETURNING total_attempts
                        """,
                        [.int(Int64(attempt)), .text(token), .text(owner), .int(expires), .int(now), .int(now),
                         .text(id.rawValue), .int(Int64(category.position))]) { Int($0.int(0)) } ?? attempt
                    try updateJob(
                        id,
                        set: """
                            status = 'processing', current_category = ?,
                            started_at_ms = COALESCE(started_at_ms, ?), updated_at = ?
                            """,
                        [.text(category.key), .int(now), .int(now)])
                    let notes = try Self.notes(input)
                    return .claimed(
                        CategoryClaim(
                            jobID: id, userID: userID, category: category, attempt: attempt,
                            totalAttempts: totalAttempts, leaseToken: token, leaseExpiresAt: expires,
                            notes: notes[category] ?? "", allNotes: notes))
                }
            }
        }
    }

    func categoryRecords(of id: JobID) throws(StoreError) -> [CategoryRecord] {
        try db.rows(
            """
            SELECT position, status, attempts, lease_expires_at, next_attempt_at
            FROM vision_job_categories WHERE job_id = ? ORDER BY position
            """, [.text(id.rawValue)]
        ) { row throws(StoreError) in
            CategoryRecord(
                category: try row.category(position: 0),
                state: try row.categoryState(1),
                attempts: Int(row.int(2)),
                leaseExpiresAt: row.optionalInt(3),
                nextAttemptAt: row.optionalInt(4))
        }
    }

    /// Marks a category failed for good and counts it on the job; a rewrite that failed keeps the
    /// text it was to replace instead, and says why in its error.
    func settleFailed(_ id: JobID, _ category: VisionCategory, error: String, now: EpochMillis) throws(StoreError) {
        let restored = try db.run(
            """
            UPDATE vision_job_categories
            SET status = 'done', output = previous_output, previous_output = NULL, error = ?, lease_token = NULL,
                lease_expires_at = NULL, next_attempt_at = NULL, partial_output = NULL, waiting_until = NULL,
                waiting_reason = NULL, completed_at = ?, updated_at = ?
            WHERE job_id = ? AND position = ? AND previous_output IS NOT NULL
            """, [.text("The rewrite failed (\(error)); the earlier text is kept."), .int(now), .int(now), .text(id.rawValue),
                  .int(Int64(category.position))])
        if restored == 1 {
            try updateJob(
                id,
                set: """
                    categories_completed = categories_completed + 1, current_category = NULL,
                    updated_at = ?
                    """,
                [.int(now)])
            return
        }
        try db.run(
            """
            UPDATE vision_job_categories
            SET status = 'failed', error = ?, lease_token = NULL, lease_expires_at = NULL, next_attempt_at = NULL,
                partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, completed_at = ?, updated_at = ?
            WHERE job_id = ? AND position = ?
            """, [.text(error), .int(now), .int(now), .text(id.rawValue), .int(Int64(category.position))])
        try updateJob(
            id,
            set: "categories_failed = categories_failed + 1, current_category = NULL, updated_at = ?",
            [.int(now)])
    }

    /// The claim's row, only while the claim still holds: same token, still running, job not ended.
    static let ownsClaim = """
        job_id = ? AND position = ? AND lease_token = ? AND status = 'running'
        AND EXISTS (SELECT 1 FROM vision_generation_jobs j WHERE j.id = job_id AND j.status = 'processing')
        """

    static func claimKey(_ claim: CategoryClaim) -> [SQLValue] {
        [.text(claim.jobID.rawValue), .int(Int64(claim.category.position)), .text(claim.leaseToken)]
    }

    public func renewLease(_ claim: CategoryClaim, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool {
        // Queued with the process's other writers: outside them, a heartbeat waiting in SQLite's
        // busy handler could miss every gap between their transactions and let the lease lapse.
        // Not synced on its own, like a claim.
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            try db.run(
                "UPDATE vision_job_categories SET lease_expires_at = ?, updated_at = ? WHERE \(Self.ownsClaim)",
                [.int(until), .int(now)] + Self.claimKey(claim)) == 1
        }
    }

    public func recordSuccess(
        _ claim: CategoryClaim, _ generation: Generation, now: EpochMillis, reservingNext lifecycle: JobLifecycle?
    ) throws(StoreError) -> RecordedSuccess {
        try db.writeTransaction { () throws(StoreError) -> RecordedSuccess in
            let changed = try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'done', output = ?, truncated = ?, error = NULL, lease_token = NULL, lease_expires_at = NULL,
                    partial_output = NULL, previous_output = NULL, waiting_until = NULL, waiting_reason = NULL,
                    completed_at = ?, updated_at = ?
                WHERE \(Self.ownsClaim)
                """, [.text(generation.text), .int(generation.truncated ? 1 : 0), .int(now), .int(now)] + Self.claimKey(claim))
            guard changed == 1 else {
                try recordLostCall(claim, ModelCall(usage: generation.usage, latencyMillis: generation.latencyMillis), now: now)
                return .claimLost
            }
            try recordCall(
                claim, ModelCall(usage: generation.usage, latencyMillis: generation.latencyMillis),
                outcome: generation.truncated ? "truncated" : "written", error: nil, now: now)
            let reservation = try lifecycle.flatMap { lifecycle throws(StoreError) in
                try reserveNextCategory(of: claim.jobID, now: now, lifecycle: lifecycle)
            }
            try updateJob(
                claim.jobID,
                set: """
                    categories_completed = categories_completed + 1, current_category = ?,
                    updated_at = ?
                    """,
                [.optional(reservation?.category.key), .int(now)])
            return .stored(nextReservation: reservation)
        }
    }

    /// Adds a finished call's cost to its category and job, and keeps the call's row. Inside the
    /// transaction that records the attempt's outcome, after the claim was found to hold.
    private func recordCall(_ claim: CategoryClaim, _ call: ModelCall, outcome: String, error: String?, now: EpochMillis) throws(StoreError) {
        // The built-in generator makes no model call: nothing to keep, and no statements per step.
        // A failed attempt is kept all the same (it has an error), for the operator's history.
        guard call != ModelCall() || error != nil else { return }
        try insertCall(
            claim.jobID, position: claim.category.position, attempt: claim.totalAttempts, call, outcome: outcome, error: error, now: now)
        try db.run(
            """
            UPDATE vision_job_categories
            SET prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?, model_millis = model_millis + ?
            WHERE job_id = ? AND position = ?
            """,
            [.int(call.usage.promptTokens), .int(call.usage.completionTokens), .int(call.latencyMillis),
             .text(claim.jobID.rawValue), .int(Int64(claim.category.position))])
    }

    /// A call whose claim was lost meanwhile (the job cancelled, the lease taken over) still cost
    /// its tokens: they are counted, though nothing of it is stored.
    private func recordLostCall(_ claim: CategoryClaim, _ call: ModelCall, now: EpochMillis) throws(StoreError) {
        try recordCall(claim, call, outcome: "failed", error: "not stored: the claim was lost", now: now)
    }

    private func insertCall(
        _ id: JobID, position: Int, attempt: Int, _ call: ModelCall, outcome: String, error: String?, now: EpochMillis
    ) throws(StoreError) {
        try db.run(
            """
            INSERT INTO vision_model_calls
                (job_id, position, attempt, outcome, error, prompt_tokens, completion_tokens, latency_ms, ended_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (job_id, position, attempt) DO UPDATE SET
                outcome = excluded.outcome, error = excluded.error, prompt_tokens = excluded.prompt_tokens,
                completion_tokens = excluded.completion_tokens, latency_ms = excluded.latency_ms, ended_at = excluded.ended_at
            """,
            [.text(id.rawValue), .int(Int64(position)), .int(Int64(attempt)), .text(outcome), .optional(error),
             .int(call.usage.promptTokens), .int(call.usage.completionTokens), .int(call.latencyMillis), .int(now)])
        guard call.usage != .zero else { return }
        try db.run(
            "UPDATE vision_generation_jobs SET prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ? WHERE id = ?",
            [.int(call.usage.promptTokens), .int(call.usage.completionTokens), .text(id.rawValue)])
    }

    public func recordFailure(
        _ claim: CategoryClaim, error: String, call: ModelCall, now: EpochMillis, lifecycle: JobLifecycle, unitRandom: Double
    ) throws(StoreError) -> JobLifecycle.FailureOutcome? {
        try db.writeTransaction { () throws(StoreError) -> JobLifecycle.FailureOutcome? in
            // A cancel in between must not see its job's category failed after it.
            try db.lockJob(claim.jobID)
            let outcome = lifecycle.afterFailure(attempt: claim.attempt, now: now, unitRandom: unitRandom)
            switch outcome {
            case .retry(let at):
                let changed = try db.run(
                    """
                    UPDATE vision_job_categories
                    SET status = 'retrying', error = ?, next_attempt_at = ?, lease_token = NULL,
                        lease_expires_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, updated_at = ?
                    WHERE \(Self.ownsClaim)
                    """, [.text(error), .int(at), .int(now)] + Self.claimKey(claim))
                guard changed == 1 else {
                    try recordLostCall(claim, call, now: now)
                    return nil
                }
                try updateJob(claim.jobID, set: "current_category = NULL, updated_at = ?", [.int(now)])
            case .fail:
                let owns = try db.row(
                    "SELECT 1 FROM vision_job_categories WHERE \(Self.ownsClaim)", Self.claimKey(claim)) { _ in true }
                guard owns == true else {
                    try recordLostCall(claim, call, now: now)
                    return nil
                }
                try settleFailed(claim.jobID, claim.category, error: error, now: now)
            }
            try recordCall(claim, call, outcome: "failed", error: error, now: now)
            return outcome
        }
    }

    public func failJob(_ claim: CategoryClaim, error: String, call: ModelCall, now: EpochMillis) throws(StoreError) -> Bool {
        try db.writeTransaction { () throws(StoreError) -> Bool in
            // Checked, then the whole job ended: a cancel must not slip in between (it would end
            // the same run twice, and the app hear of both).
            try db.lockJob(claim.jobID)
            let owns = try db.row("SELECT 1 FROM vision_job_categories WHERE \(Self.ownsClaim)", Self.claimKey(claim)) { _ in true }
            guard owns == true else {
                try recordLostCall(claim, call, now: now)
                return false
            }
            try recordCall(claim, call, outcome: "failed", error: error, now: now)
            if try hasVision(claim.jobID) {
                try abandonRerun(claim.jobID, categoryError: error, jobError: error, now: now)
                try recordEnding(claim.jobID, .failed, now: now)
                return true
            }
            // A section being rewritten keeps its earlier text.
            let restored = try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'done', output = previous_output, previous_output = NULL, lease_token = NULL,
                    lease_expires_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL
                WHERE job_id = ? AND previous_output IS NOT NULL AND status NOT IN ('done', 'failed')
                """, [.text(claim.jobID.rawValue)])
            // Every unsettled category fails with the same reason, so "Retry failed categories"
            // runs them all once the configuration is fixed.
            let failed = try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'failed', error = ?, lease_token = NULL, lease_expires_at = NULL, next_attempt_at = NULL,
                    partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, completed_at = ?, updated_at = ?
                WHERE job_id = ? AND status NOT IN ('done', 'failed')
                """, [.text(error), .int(now), .int(now), .text(claim.jobID.rawValue)])
            try updateJob(
                claim.jobID,
                set: """
                    status = 'failed', error = ?, categories_failed = categories_failed + ?,
                    categories_completed = categories_completed + ?, current_category = NULL,
                    completed_at_ms = ?, updated_at = ?
                    """,
                [.text(error), .int(Int64(failed)), .int(Int64(restored)), .int(now), .int(now)])
            try recordEnding(claim.jobID, .failed, now: now)
            return true
        }
    }

    public func saveProgress(_ claim: CategoryClaim, text: String, now: EpochMillis) throws(StoreError) -> Bool {
        // Not synced on its own: text so far lost to a power cut is written again by the attempt.
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            guard
                try db.run(
                    """
                    UPDATE vision_job_categories SET partial_output = ?, waiting_until = NULL, waiting_reason = NULL
                    WHERE \(Self.ownsClaim)
                    """, [.text(text)] + Self.claimKey(claim)) == 1
            else { return false }
            try updateJob(claim.jobID)
            return true
        }
    }

    public func markWaiting(_ claim: CategoryClaim, until: EpochMillis, reason: String, now: EpochMillis) throws(StoreError) -> Bool {
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            guard
                try db.run(
                    "UPDATE vision_job_categories SET waiting_until = ?, waiting_reason = ? WHERE \(Self.ownsClaim)",
                    [.int(until), .text(reason)] + Self.claimKey(claim)) == 1
            else { return false }
            try updateJob(claim.jobID)
            return true
        }
    }

    /// The one statement that changes a job's row: every change bumps its version, which is how
    /// status knows a cached answer went stale (`jobVersion`). With no assignments, a change the
    /// status answer shows (live text, a wait) without progress the sweep should count.
    func updateJob(_ id: JobID, set assignments: String = "", _ values: [SQLValue] = []) throws(StoreError) {
        let sql = assignments.isEmpty
            ? "UPDATE vision_generation_jobs SET version = version + 1 WHERE id = ?"
            : "UPDATE vision_generation_jobs SET version = version + 1, \(assignments) WHERE id = ?"
        try db.run(sql, values + [.text(id.rawValue)])
    }

    public func claimAssembly(_ id: JobID, token: String, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool {
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            try db.run(
                """
                UPDATE vision_generation_jobs SET assembly_claimed_until = ?, assembly_claim_token = ?
                WHERE id = ? AND status IN ('pending', 'processing')
                    AND (assembly_claimed_until IS NULL OR assembly_claimed_until <= ? OR assembly_claim_token = ?)
                """, [.int(until), .text(token), .text(id.rawValue), .int(now), .text(token)]) == 1
        }
    }

    public func writtenSections(of id: JobID) throws(StoreError) -> WrittenSections? {
        try db.readTransaction { () throws(StoreError) -> WrittenSections? in
            guard let userID = try db.row("SELECT user_id FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)], { $0.text(0) })
            else { return nil }
            let assemblyCalls = try db.row(
                "SELECT COUNT(*) FROM vision_model_calls WHERE job_id = ? AND position = ?",
                [.text(id.rawValue), .int(Int64(VisionCategory.count))]) { Int($0.int(0)) } ?? 0
            return WrittenSections(userID: userID, sections: try doneSections(of: id), assemblyCalls: assemblyCalls)
        }
    }

    private func doneSections(of id: JobID) throws(StoreError) -> [VisionCategory: String] {
        var sections: [VisionCategory: String] = [:]
        for (category, output) in try db.rows(
            "SELECT position, output FROM vision_job_categories WHERE job_id = ? AND status = 'done'",
            [.text(id.rawValue)], { row throws(StoreError) in (try row.category(position: 0), row.text(1)) })
        {
            sections[category] = output
        }
        return sections
    }

    public func recentCategoryMillis(limit: Int) throws(StoreError) -> [Int64] {
        try db.rows(
            """
            SELECT completed_at - started_at FROM vision_job_categories
            WHERE status = 'done' AND started_at IS NOT NULL ORDER BY completed_at DESC LIMIT ?
            """, [.int(Int64(limit))]) { $0.int(0) }
    }

    public func jobOwner(_ id: JobID) throws(StoreError) -> String? {
        try db.row("SELECT user_id FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)]) { $0.text(0) }
    }

    public func jobs(matching filter: JobFilter, limit: Int) throws(StoreError) -> [Job] {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let status = filter.status {
            conditions.append("status = ?")
            values.append(.text(status.rawValue))
        }
        if let user = filter.userID {
            conditions.append("user_id = ?")
            values.append(.text(user))
        }
        if filter.withFailedCategories { conditions.append("categories_failed > 0") }
        if let since = filter.stalledSince {
            conditions.append("status IN ('pending', 'processing') AND updated_at <= ?")
            values.append(.int(since))
        }
        if let before = filter.createdBefore {
            conditions.append("created_at_ms < ?")
            values.append(.int(before))
        }
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try db.rows(
            "SELECT \(Self.jobColumns) FROM vision_generation_jobs \(clause) ORDER BY created_at_ms DESC, id LIMIT ?",
            values + [.int(Int64(limit))], Self.readJob)
    }

    public func attempts(of id: JobID) throws(StoreError) -> [AttemptRecord] {
        try db.rows(
            """
            SELECT position, attempt, outcome, error, prompt_tokens, completion_tokens, latency_ms, ended_at
            FROM vision_model_calls WHERE job_id = ? ORDER BY ended_at, position, attempt
            """, [.text(id.rawValue)]
        ) { row throws(StoreError) in
            let position = Int(row.int(0))
            return AttemptRecord(
                category: position < VisionCategory.count ? try row.category(position: 0) : nil,
                attempt: Int(row.int(1)), outcome: row.text(2), error: row.optionalText(3),
                usage: TokenUsage(promptTokens: row.int(4), completionTokens: row.int(5)),
                latencyMillis: row.int(6), endedAt: row.int(7))
        }
    }

    public func queueFigures(failedSince: EpochMillis) throws(StoreError) -> QueueFigures {
        try db.readTransaction { () throws(StoreError) -> QueueFigures in
            var figures = QueueFigures(jobs: [:], categories: [:], failedRecently: 0)
            for (status, count) in try db.rows(
                "SELECT status, COUNT(*) FROM vision_generation_jobs GROUP BY status",
                { row throws(StoreError) in (try row.jobStatus(0), Int(row.int(1))) })
            {
                figures.jobs[status] = count
            }
            for (state, count) in try db.rows(
                """
                SELECT c.status, COUNT(*) FROM vision_job_categories c
                JOIN vision_generation_jobs j ON j.id = c.job_id
                WHERE j.status IN ('pending', 'processing') GROUP BY c.status
                """, { row in (row.text(0), Int(row.int(1))) })
            {
                guard let state = CategoryState(rawValue: state) else { throw StoreError.corruptRow("category status '\(state)'") }
                figures.categories[state] = count
            }
            figures.failedRecently = Int(
                try db.row(
                    "SELECT COUNT(*) FROM vision_generation_jobs WHERE status = 'failed' AND completed_at_ms >= ?",
                    [.int(failedSince)]) { $0.int(0) } ?? 0)
            return figures
        }
    }

    public func finishJob(
        _ id: JobID, now: EpochMillis, lifecycle: JobLifecycle, assembly: AssemblyReport,
        assemble: (_ sections: [VisionCategory: String]) -> String
    ) throws(StoreError) -> JobLifecycle.Ending? {
        try db.writeTransaction { () throws(StoreError) -> JobLifecycle.Ending? in
            try db.lockJob(id)
            guard
                let (userID, status) = try db.row(
                    "SELECT user_id, status FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)],
                    { row throws(StoreError) in (row.text(0), try row.jobStatus(1)) })
            else { return nil }
            let records = try categoryRecords(of: id)
            guard lifecycle.nextStep(jobStatus: status, categories: records, now: now) == .assemble else { return nil }
            let ending = lifecycle.ending(categories: records)
            let earlierCalls = try db.row(
                "SELECT COUNT(*) FROM vision_model_calls WHERE job_id = ? AND position = ?",
                [.text(id.rawValue), .int(Int64(VisionCategory.count))]) { $0.int(0) } ?? 0
            for (index, record) in assembly.calls.enumerated() {
                try insertCall(
                    id, position: VisionCategory.count, attempt: Int(earlierCalls) + index + 1, record.call,
                    outcome: record.error == nil ? "written" : "failed", error: record.error, now: now)
            }
            switch ending {
            case .failed(let reason):
                try updateJob(
                    id,
                    set: """
                        status = 'failed', error = ?, current_category = NULL, completed_at_ms = ?,
                        updated_at = ?, assembly_claimed_until = NULL, assembly_claim_token = NULL
                        """,
                    [.text(reason), .int(now), .int(now)])
            case .completed:
                let sections = try doneSections(of: id)
                // A retried or rewritten job keeps its vision id, so links to the vision keep
                // working; the version it replaces is kept.
                let columns = VisionCategory.allCases.map(\.key).joined(separator: ", ")
                let earlier = try db.row("SELECT id, version FROM visions WHERE job_id = ?", [.text(id.rawValue)]) { ($0.text(0), $0.int(1)) }
                if earlier != nil {
                    try db.run(
                        """
                        INSERT INTO vision_versions (vision_id, version, user_id, job_id, document, created_at, \(columns))
                        SELECT id, version, user_id, job_id, document, created_at, \(columns) FROM visions WHERE job_id = ?
                        ON CONFLICT (vision_id, version) DO NOTHING
                        """, [.text(id.rawValue)])
                }
                let visionID = earlier?.0 ?? UUIDv7.make(now: now)
                let placeholders = Array(repeating: "?", count: VisionCategory.count).joined(separator: ", ")
                try db.run("DELETE FROM visions WHERE job_id = ?", [.text(id.rawValue)])
                try db.run(
                    """
                    INSERT INTO visions (id, user_id, job_id, document, created_at, version, \(columns))
                    VALUES (?, ?, ?, ?, ?, ?, \(placeholders))
                    """,
                    [.text(visionID), .text(userID), .text(id.rawValue), .text(assemble(sections)), .int(now),
                     .int((earlier?.1 ?? 0) + 1)]
                        + VisionCategory.allCases.map { .optional(sections[$0]) })
                let failed = records.filter { $0.state == .failed }.count
                try updateJob(
                    id,
                    set: """
                        status = 'completed', vision_id = ?, current_category = NULL,
                        completed_at_ms = ?, updated_at = ?, error = ?, assembly_note = ?,
                        assembly_claimed_until = NULL, assembly_claim_token = NULL
                        """,
                    [.text(visionID), .int(now), .int(now), failed == 0 ? .null : .text("\(failed) of \(VisionCategory.count) categories could not be written."), .optional(assembly.note)])
            }
            try recordEnding(id, ending.webhookKind, now: now)
            return ending
        }
    }
}
