/// The chain's fast path: the transaction that stores a category's text also reserves the job's
/// next category for the trigger it sends, so the step that trigger starts reads its claim instead
/// of writing one (one write transaction a step instead of two).
///
/// A reservation is a claim made ahead: it counts its attempt, so a worker that dies in the step
/// counts it as before. A trigger known to be lost (given up, dropped) or a stopping process gives
/// its reservations back uncounted (`releaseReservation`, `releaseReservations`).
extension SQLJobStore {
    /// Reserves the category the lifecycle would claim next, for this process, for
    /// `reservationMillis`, counting its attempt; inside the caller's write transaction.
    func reserveNextCategory(of id: JobID, now: EpochMillis, lifecycle: JobLifecycle) throws(StoreError) -> Reservation? {
        guard lifecycle.reservesNextSteps,
            let category = lifecycle.reservation(jobStatus: .processing, categories: try categoryRecords(of: id), now: now)
        else { return nil }
        let token = CategoryClaim.newLeaseToken()
        let expiresAt = now + lifecycle.policy.reservationMillis
        return try db.row(
            """
            UPDATE vision_job_categories
            SET status = 'running', attempts = attempts + 1, total_attempts = total_attempts + 1, lease_token = ?,
                lease_owner = ?, lease_expires_at = ?, next_attempt_at = NULL,
                partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, started_at = COALESCE(started_at, ?), updated_at = ?
            WHERE job_id = ? AND position = ?
            RETURNING attempts, total_attempts
            """,
            [.text(token), .text(owner), .int(expiresAt), .int(now), .int(now), .text(id.rawValue), .int(Int64(category.position))]
        ) { row in
            Reservation(category: category, token: token, attempt: Int(row.int(0)), totalAttempts: Int(row.int(1)), expiresAt: expiresAt)
        }
    }

    public func takeReservation(of id: JobID, token: String, now: EpochMillis, policy: RetryPolicy) throws(StoreError) -> CategoryClaim? {
        // One read, outside any transaction: the reservation is this process's until it lapses.
        guard
            let found = try db.row(
                """
                SELECT c.position, c.attempts, c.total_attempts, c.lease_owner, c.lease_expires_at, j.user_id, j.input
                FROM vision_job_categories c JOIN vision_generation_jobs j ON j.id = c.job_id
                WHERE c.job_id = ? AND c.lease_token = ? AND c.status = 'running' AND c.lease_expires_at > ?
                    AND j.status = 'processing'
                """, [.text(id.rawValue), .text(token), .int(now)],
                { row throws(StoreError) in
                    (category: try row.category(position: 0), attempts: Int(row.int(1)), totalAttempts: Int(row.int(2)),
                     owner: row.text(3), expiresAt: row.int(4), userID: row.text(5), input: row.text(6))
                })
        else { return nil }
        let notes = try Self.notes(found.input)
        var claim = CategoryClaim(
            jobID: id, userID: found.userID, category: found.category, attempt: found.attempts,
            totalAttempts: found.totalAttempts, leaseToken: token, leaseExpiresAt: found.expiresAt,
            notes: notes[found.category] ?? "", allNotes: notes)
        if found.owner == owner && found.expiresAt - now >= policy.reservationFloorMillis { return claim }
        // Another process's reservation (the trigger went through a load balancer to another node),
        // or one about to lapse: made this process's for a whole lease, if it still holds, under a
        // new token, so a second delivery of the same trigger finds it taken.
        let taken = try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            let newToken = CategoryClaim.newLeaseToken()
            let changed = try db.run(
                """
                UPDATE vision_job_categories SET lease_token = ?, lease_owner = ?, lease_expires_at = ?
                WHERE \(Self.ownsClaim) AND lease_expires_at > ?
                """, [.text(newToken), .text(owner), .int(now + policy.leaseMillis)] + Self.claimKey(claim) + [.int(now)])
            claim.leaseToken = newToken
            claim.leaseExpiresAt = now + policy.leaseMillis
            return changed == 1
        }
        return taken ? claim : nil
    }

    public func releaseReservation(of id: JobID, token: String, now: EpochMillis) throws(StoreError) -> Bool {
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            try giveBack("job_id = ? AND lease_token = ? AND lease_owner = ?", [.text(id.rawValue), .text(token), .text(owner)], now: now) > 0
        }
    }

    public func releaseReservations(now: EpochMillis) throws(StoreError) -> Int {
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Int in
            try giveBack("lease_owner = ?", [.text(owner)], now: now)
        }
    }

    /// Puts running categories matching `condition` back as they were before their claim, the
    /// attempt uncounted; clears the job's current category for each. Not progress: the job's
    /// `updated_at` (the stall clock) is left as it was.
    private func giveBack(_ condition: String, _ values: [SQLValue], now: EpochMillis) throws(StoreError) -> Int {
        let jobs = try db.rows(
            """
            UPDATE vision_job_categories SET \(Self.givenBack)
            WHERE status = 'running' AND \(condition)
            RETURNING job_id
            """, [.int(now), .int(now)] + values) { row throws(StoreError) in try row.jobID(0) }
        for id in jobs { try updateJob(id, set: "current_category = NULL") }
        return jobs.count
    }
}
