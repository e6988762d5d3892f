/// The user's controls (cancel, retry) and recovery (stalled jobs, kicks, released claims).
extension SQLJobStore {
    public func cancelJob(_ id: JobID, ownedBy userID: String, now: EpochMillis) throws(StoreError) -> CancelOutcome? {
        try db.writeTransaction { () throws(StoreError) -> CancelOutcome? in
            try db.lockJob(id)
            guard
                let status = try db.row(
                    "SELECT status FROM vision_generation_jobs WHERE id = ? AND user_id = ?",
                    [.text(id.rawValue), .text(userID)], { row throws(StoreError) in try row.jobStatus(0) })
            else { return nil }
            guard !status.isFinal else { return CancelOutcome(status: status, cancelledNow: false) }
            if try hasVision(id) {
                // A retry or rewrite of a written vision: cancelling it stops that run only.
                try abandonRerun(id, categoryError: "The retry or rewrite was cancelled.", jobError: nil, now: now)
                try recordEnding(id, .cancelled, now: now)
                return CancelOutcome(status: .cancelled, cancelledNow: true)
            }
            try updateJob(
                id,
                set: """
                    status = 'cancelled', current_category = NULL, completed_at_ms = ?, updated_at = ?,
                    error = 'Cancelled by the user.'
                    """,
                [.int(now), .int(now)])
            // A section being rewritten keeps its earlier text.
            let restored = try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'done', output = previous_output, previous_output = NULL, lease_token = NULL, lease_owner = NULL,
                    lease_expires_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, updated_at = ?
                WHERE job_id = ? AND previous_output IS NOT NULL
                """, [.int(now), .text(id.rawValue)])
            if restored > 0 {
                try db.run(
                    "UPDATE vision_generation_jobs SET categories_completed = categories_completed + ? WHERE id = ?",
                    [.int(Int64(restored)), .text(id.rawValue)])
            }
            // A category being written loses its lease: the worker's result will be refused.
            try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'pending', lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
                    partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, updated_at = ?
                WHERE job_id = ? AND status = 'running'
                """, [.int(now), .text(id.rawValue)])
            try recordEnding(id, .cancelled, now: now)
            return CancelOutcome(status: .cancelled, cancelledNow: true)
        }
    }

    public func retryFailedCategories(
        _ id: JobID, ownedBy userID: String, limits: CreateLimits, now: EpochMillis
    ) throws(StoreError) -> RerunOutcome {
        try db.writeTransaction { () throws(StoreError) -> RerunOutcome in
            if let refused = try refuseRerun(id, ownedBy: userID, limits: limits, now: now) { return refused }
            let reset = try db.run(
                """
                UPDATE vision_job_categories
                SET status = 'pending', attempts = 0, error = NULL, next_attempt_at = NULL, started_at = NULL,
                    completed_at = NULL, updated_at = ?
                WHERE job_id = ? AND status = 'failed'
                """, [.int(now), .text(id.rawValue)])
            guard reset > 0 else { return .nothingFailed }
            try updateJob(
                id,
                set: """
                    status = 'pending', categories_failed = 0, error = NULL, completed_at_ms = NULL,
                    updated_at = ?, assembly_claimed_until = NULL, assembly_claim_token = NULL
                    """,
                [.int(now)])
            try recordRerun(id, userID: userID, kind: "retry", now: now)
            return .started(categories: reset)
        }
    }

    public func regenerateCategory(
        _ id: JobID, ownedBy userID: String, category: VisionCategory, notes: String?, limits: CreateLimits, now: EpochMillis
    ) throws(StoreError) -> RerunOutcome {
        try db.writeTransaction { () throws(StoreError) -> RerunOutcome in
            if let refused = try refuseRerun(id, ownedBy: userID, limits: limits, now: now) { return refused }
            guard
                let wasDone = try db.row(
                    "SELECT CASE WHEN status = 'done' THEN 1 ELSE 0 END FROM vision_job_categories WHERE job_id = ? AND position = ?",
                    [.text(id.rawValue), .int(Int64(category.position))], { $0.int(0) != 0 })
            else { return .notFound }
            // The text being replaced stays until the new one is stored, and comes back if the
            // rewrite fails: a failed rewrite never leaves a gap where a section was.
            try db.run(
                """
                UPDATE vision_job_categories
                SET previous_output = CASE WHEN status = 'done' THEN output ELSE NULL END, output = NULL,
                    status = 'pending', attempts = 0, error = NULL, next_attempt_at = NULL, started_at = NULL,
                    completed_at = NULL, truncated = 0, updated_at = ?
                WHERE job_id = ? AND position = ?
                """, [.int(now), .text(id.rawValue), .int(Int64(category.position))])
            if let notes {
                let input = try db.row("SELECT input FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)]) { $0.text(0) } ?? "{}"
                var all = try Self.notes(input)
                all[category] = notes.isEmpty ? nil : notes
                try db.run("UPDATE vision_generation_jobs SET input = ? WHERE id = ?", [.text(StoredNotes.encode(all)), .text(id.rawValue)])
            }
            try updateJob(
                id,
                set: """
                    status = 'pending', error = NULL, completed_at_ms = NULL, updated_at = ?,
                    categories_completed = categories_completed - ?,
                    categories_failed = categories_failed - ?, assembly_claimed_until = NULL,
                    assembly_claim_token = NULL
                    """,
                [.int(now), .int(wasDone ? 1 : 0), .int(wasDone ? 0 : 1)])
            try recordRerun(id, userID: userID, kind: "regenerate", now: now)
            return .started(categories: 1)
        }
    }

    /// Why a retry or rewrite of this job may not start now, or nil when it may: the job must be
    /// the user's and ended (completed or failed; a cancelled one stays cancelled), and the user's
    /// limits hold as for a create.
    private func refuseRerun(_ id: JobID, ownedBy userID: String, limits: CreateLimits, now: EpochMillis) throws(StoreError) -> RerunOutcome? {
        // The user's limits are read, then a run is started: no create or other rerun of the same
        // user in between, and nothing else changes the job meanwhile.
        try db.lockKey("user:" + userID)
        try db.lockJob(id)
        guard
            let status = try db.row(
                "SELECT status FROM vision_generation_jobs WHERE id = ? AND user_id = ?",
                [.text(id.rawValue), .text(userID)], { row throws(StoreError) in try row.jobStatus(0) })
        else { return .notFound }
        guard status == .completed || status == .failed else { return .notRetryable(status) }
        if limits.maxActiveJobs < Int.max {
            let active = try db.row(
                "SELECT COUNT(*) FROM vision_generation_jobs WHERE user_id = ? AND status IN ('pending', 'processing')",
                [.text(userID)]) { $0.int(0) } ?? 0
            if active >= limits.maxActiveJobs { return .activeJobLimit }
        }
        if let retryAfter = try hourlyLimitRetryAfter(userID, limits, now: now) { return .rateLimited(retryAfterSeconds: retryAfter) }
        return nil
    }

    func hasVision(_ id: JobID) throws(StoreError) -> Bool {
        try db.row("SELECT CASE WHEN vision_id IS NULL THEN 0 ELSE 1 END FROM vision_generation_jobs WHERE id = ?", [.text(id.rawValue)]) { $0.int(0) != 0 }
            ?? false
    }

    /// Ends a retry or rewrite of a vision that was already written, without writing it again:
    /// the vision stays as it was (a section being rewritten keeps its earlier text), what the run
    /// was to write again is failed as it was before, and the job is completed again, so it can be
    /// retried or rewritten later. A cancelled or refused rerun never locks a finished vision.
    func abandonRerun(_ id: JobID, categoryError: String, jobError: String?, now: EpochMillis) throws(StoreError) {
        try db.run(
            """
            UPDATE vision_job_categories
            SET status = 'done', output = previous_output, previous_output = NULL, lease_token = NULL, lease_owner = NULL,
                lease_expires_at = NULL, next_attempt_at = NULL, partial_output = NULL, waiting_until = NULL,
                waiting_reason = NULL, completed_at = ?, updated_at = ?
            WHERE job_id = ? AND previous_output IS NOT NULL
            """, [.int(now), .int(now), .text(id.rawValue)])
        try db.run(
            """
            UPDATE vision_job_categories
            SET status = 'failed', error = ?, lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
                next_attempt_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL,
                completed_at = ?, updated_at = ?
            WHERE job_id = ? AND status NOT IN ('done', 'failed')
            """, [.text(categoryError), .int(now), .int(now), .text(id.rawValue)])
        let (done, failed) = try db.row(
            """
            SELECT SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)
            FROM vision_job_categories WHERE job_id = ?
            """,
            [.text(id.rawValue)]) { ($0.int(0), $0.int(1)) } ?? (0, 0)
        try updateJob(
            id,
            set: """
                status = 'completed', current_category = NULL, completed_at_ms = ?, updated_at = ?,
                categories_completed = ?, categories_failed = ?, error = ?,
                assembly_claimed_until = NULL, assembly_claim_token = NULL
                """,
            [.int(now), .int(now), .int(done), .int(failed), .optional(jobError ?? (failed == 0 ? nil : "\(failed) of \(VisionCategory.count) categories could not be written."))])
    }

    private func recordRerun(_ id: JobID, userID: String, kind: String, now: EpochMillis) throws(StoreError) {
        try db.run(
            "INSERT INTO vision_job_reruns (user_id, job_id, kind, at) VALUES (?, ?, ?, ?)",
            [.text(userID), .text(id.rawValue), .text(kind), .int(now)])
    }

    public func stalledJobs(now: EpochMillis, stallMillis: Int64, lifecycle: JobLifecycle, limit: Int) throws(StoreError) -> [JobID] {
        try db.readTransaction { () throws(StoreError) -> [JobID] in
            let candidates = try db.rows(
                """
                SELECT id, status, updated_at FROM vision_generation_jobs
                WHERE status IN ('pending', 'processing') AND updated_at <= ?
                ORDER BY updated_at LIMIT ?
                """, [.int(now - stallMillis), .int(Int64(limit))]
            ) { row throws(StoreError) in (try row.jobID(0), try row.jobStatus(1), row.int(2)) }
            var stalled: [JobID] = []
            for (id, status, updatedAt) in candidates {
                let records = try categoryRecords(of: id)
                if lifecycle.isStalled(
                    jobStatus: status, categories: records, lastProgressAt: updatedAt, now: now, stallMillis: stallMillis)
                {
                    stalled.append(id)
                }
            }
            return stalled
        }
    }

    public func claimKick(_ id: JobID, now: EpochMillis, windowMillis: Int64) throws(StoreError) -> Bool {
        // In a transaction like every write, so it queues with the process's other writers (a lost
        // kick record only means a second kick).
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            try db.run(
                """
                UPDATE vision_generation_jobs SET last_kick_at = ?
                WHERE id = ? AND status IN ('pending', 'processing') AND (last_kick_at IS NULL OR last_kick_at <= ?)
                """, [.int(now), .text(id.rawValue), .int(now - windowMillis)]) == 1
        }
    }

    public func releaseClaim(_ claim: CategoryClaim, now: EpochMillis) throws(StoreError) -> Bool {
        try db.writeTransaction { () throws(StoreError) -> Bool in
            guard try releaseClaimRow(claim, now: now) else { return false }
            try updateJob(claim.jobID, set: "current_category = NULL, updated_at = ?", [.int(now)])
            return true
        }
    }

    public func expireClaims(heldBy owner: String, now: EpochMillis) throws(StoreError) -> [JobID] {
        try db.writeTransaction { () throws(StoreError) -> [JobID] in
            try db.rows(
                """
                UPDATE vision_job_categories SET lease_expires_at = ?
                WHERE status = 'running' AND lease_owner = ? AND lease_expires_at > ?
                RETURNING job_id
                """, [.int(now), .text(owner), .int(now)]) { row throws(StoreError) in try row.jobID(0) }
        }
    }

    private func releaseClaimRow(_ claim: CategoryClaim, now: EpochMillis) throws(StoreError) -> Bool {
        try db.run(
            "UPDATE vision_job_categories SET \(Self.givenBack) WHERE \(Self.ownsClaim)",
            [.int(now), .int(now)] + Self.claimKey(claim)) == 1
    }

    /// A category's columns set back to before its claim, the attempt uncounted (binds: the next
    /// attempt's time, `updated_at`): for a claim or a reservation given back.
    static let givenBack = """
        status = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END,
            attempts = attempts - 1, next_attempt_at = ?, lease_token = NULL, lease_owner = NULL,
            lease_expires_at = NULL, partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, updated_at = ?
        """
}
