/// The service-wide cap on categories running at once (`VQ_MAX_CONCURRENT_CATEGORIES`), held
/// against every concurrent claim of every node.
///
/// Where one writer at a time is the rule (SQLite), counting the running categories in the claim's
/// transaction suffices. Where claims run in parallel (PostgreSQL), a count would need one lock
/// that every claim of the cluster queues on (measured: about 14 ms of waiting per claim with
/// 1,000 jobs, a ceiling near 700 steps/s whatever the number of nodes). Instead the cap is `limit`
/// slot rows: a claim locks a free one (`FOR UPDATE SKIP LOCKED`, so claims never wait on each
/// other) and writes its lease token into it. A slot is free when no category runs under a live
/// lease with the token it holds, so nothing ever has to give a slot back: a finished, failed,
/// released or expired claim frees its slot by being what it is.
extension SQLJobStore {
    /// Inside the claim's transaction, before a category starts under `leaseToken`: whether it may.
    func reserveRunningSlot(limit: Int, leaseToken: String, now: EpochMillis) throws(StoreError) -> Bool {
        if db.serializesWriters {
            let running = try db.row(
                "SELECT COUNT(*) FROM vision_job_categories WHERE status = 'running' AND lease_expires_at > ?",
                [.int(now)]) { $0.int(0) } ?? 0
            return running < limit
        }
        var after: Int64 = -1
        for _ in 0..<2 {
            while let slot = try db.row(
                """
                SELECT s.slot FROM vision_running_slots s
                WHERE s.slot < ? AND s.slot > ? AND NOT EXISTS (
                    SELECT 1 FROM vision_job_categories c
                    WHERE c.lease_token = s.lease_token AND c.status = 'running' AND c.lease_expires_at > ?)
                ORDER BY s.slot LIMIT 1 FOR UPDATE SKIP LOCKED
                """, [.int(Int64(limit)), .int(after), .int(now)], { $0.int(0) })
            {
                // Locked now, and so ours to decide on. The search above read the categories as
                // they were when it began; a claim that took this slot and committed meanwhile is
                // seen only by a statement that starts after the lock.
                let held = try db.row(
                    """
                    SELECT 1 FROM vision_running_slots s JOIN vision_job_categories c ON c.lease_token = s.lease_token
                    WHERE s.slot = ? AND c.status = 'running' AND c.lease_expires_at > ?
                    """, [.int(slot), .int(now)], { _ in true }) ?? false
                if !held {
                    try db.run("UPDATE vision_running_slots SET lease_token = ? WHERE slot = ?", [.text(leaseToken), .int(slot)])
                    return true
                }
                after = slot
            }
            // No free slot: every one is taken, or the slots up to `limit` are not all there yet
            // (a first start, or a raised limit).
            let present = try db.row("SELECT COUNT(*) FROM vision_running_slots WHERE slot < ?", [.int(Int64(limit))]) { $0.int(0) } ?? 0
            guard present < limit else { return false }
            for slot in 0..<limit {
                try db.run("INSERT INTO vision_running_slots (slot) VALUES (?) ON CONFLICT (slot) DO NOTHING", [.int(Int64(slot))])
            }
            after = -1
        }
        return false
    }
}
