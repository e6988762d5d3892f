/// The chain's fast path: the transaction that stores a category's text also reserves the job's
/// next category for the trigger it sends, so the step that trigger starts reads its claim instead
/// of writing one (one write transaction a step instead of two).
extension SQLJobStore {
    /// Reserves the category the lifecycle would claim next, for this process, for
    /// `reservationMillis`; inside the caller's write transaction. The attempt is not counted.
    func reserveNextCategory(of id: JobID, now: EpochMillis, lifecycle: JobLifecycle) throws(StoreError) -> (category: VisionCategory, token: String)? {
        guard let category = lifecycle.reservation(jobStatus: .processing, categories: try categoryRecords(of: id), now: now)
        else { return nil }
        let token = CategoryClaim.newLeaseToken()
        try db.run(
            """
            UPDATE vision_job_categories
            SET status = 'running', lease_token = ?, lease_owner = ?, lease_expires_at = ?, next_attempt_at = NULL,
                partial_output = NULL, waiting_until = NULL, waiting_reason = NULL, started_at = COALESCE(started_at, ?), updated_at = ?
            WHERE job_id = ? AND position = ?
            """,
            [.text(token), .text(owner), .int(now + lifecycle.policy.reservationMillis), .int(now), .int(now),
             .text(id.rawValue), .int(Int64(category.position))])
        return (category, token)
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
            jobID: id, userID: found.userID, category: found.category, attempt: found.attempts + 1,
            totalAttempts: found.totalAttempts + 1, leaseToken: token, leaseExpiresAt: found.expiresAt,
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
}
