/// The webhook outbox: events written with the ending they announce, then claimed, delivered and
/// settled by the process binary's webhook dispatcher (on any node, any number at once).
extension SQLJobStore {
    /// Inside the transaction that ended a run: the event, with the job as it now is. Nothing when
    /// no webhook is configured, so an outbox nobody empties never grows.
    func recordEnding(_ id: JobID, _ kind: WebhookEvent.Kind, now: EpochMillis) throws(StoreError) {
        guard recordsWebhookEvents else { return }
        try db.run(
            """
            INSERT INTO vision_webhook_events (
                id, type, job_id, user_id, status, vision_id, categories_completed, categories_failed,
                prompt_tokens, completion_tokens, error, created_at_ms, started_at_ms, completed_at_ms,
                occurred_at, next_attempt_at)
            SELECT ?, ?, id, user_id, status, vision_id, categories_completed, categories_failed,
                prompt_tokens, completion_tokens, error, created_at_ms, started_at_ms, completed_at_ms, ?, ?
            FROM vision_generation_jobs WHERE id = ?
            """, [.text(WebhookEvent.newID(now: now)), .text(kind.rawValue), .int(now), .int(now), .text(id.rawValue)])
    }

    public func dueWebhookEvents(now: EpochMillis, limit: Int) throws(StoreError) -> [WebhookEvent] {
        try db.rows(
            """
            SELECT id, type, job_id, user_id, status, vision_id, categories_completed, categories_failed,
                prompt_tokens, completion_tokens, error, created_at_ms, started_at_ms, completed_at_ms,
                occurred_at, attempts
            FROM vision_webhook_events WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?
            """, [.int(now), .int(Int64(limit))]
        ) { row throws(StoreError) in
            guard let kind = WebhookEvent.Kind(rawValue: row.text(1)) else {
                throw .corruptRow("webhook event \(row.text(0)) has type '\(row.text(1).prefix(64))'")
            }
            return WebhookEvent(
                id: row.text(0), kind: kind, jobID: row.text(2), userID: row.text(3), status: row.text(4),
                visionID: row.optionalText(5), categoriesCompleted: Int(row.int(6)), categoriesFailed: Int(row.int(7)),
                promptTokens: row.int(8), completionTokens: row.int(9), error: row.optionalText(10),
                createdAt: row.int(11), startedAt: row.optionalInt(12), completedAt: row.optionalInt(13),
                occurredAt: row.int(14), attempts: Int(row.int(15)))
        }
    }

    public func claimWebhookEvent(_ event: WebhookEvent, until: EpochMillis, now: EpochMillis) throws(StoreError) -> Bool {
        // Not synced: a claim lost to a power cut only means the event is delivered again.
        try db.writeTransaction(durable: false) { () throws(StoreError) -> Bool in
            try db.run(
                """
                UPDATE vision_webhook_events SET next_attempt_at = ?, attempts = attempts + 1
                WHERE id = ? AND attempts = ? AND next_attempt_at <= ?
                """, [.int(until), .text(event.id), .int(Int64(event.attempts)), .int(now)]) == 1
        }
    }

    public func settleWebhookEvent(
        _ event: WebhookEvent, delivered: Bool, retryAt: EpochMillis?, error: String?, now: EpochMillis
    ) throws(StoreError) {
        _ = try db.writeTransaction { () throws(StoreError) in
            try db.run(
                """
                UPDATE vision_webhook_events
                SET next_attempt_at = ?, delivered_at = ?, last_error = ?
                WHERE id = ? AND attempts = ?
                """,
                [delivered ? .null : .optional(retryAt), delivered ? .int(now) : .null, .optional(error),
                 .text(event.id), .int(Int64(event.attempts))])
        }
    }

    public func webhookBacklog(now: EpochMillis) throws(StoreError) -> WebhookBacklog {
        try db.row(
            """
            SELECT SUM(CASE WHEN next_attempt_at IS NOT NULL THEN 1 ELSE 0 END),
                MIN(CASE WHEN next_attempt_at IS NOT NULL THEN occurred_at END),
                SUM(CASE WHEN next_attempt_at IS NULL THEN 1 ELSE 0 END)
            FROM vision_webhook_events WHERE delivered_at IS NULL
            """
        ) { row in
            WebhookBacklog(
                undelivered: Int(row.int(0)), givenUp: Int(row.int(2)),
                oldestMillis: row.optionalInt(1).map { now - $0 })
        } ?? WebhookBacklog(undelivered: 0, givenUp: 0, oldestMillis: nil)
    }

    public func pruneWebhookEvents(deliveredBefore: EpochMillis, givenUpBefore: EpochMillis) throws(StoreError) -> Int {
        try db.writeTransaction { () throws(StoreError) -> Int in
            try db.run(
                """
                DELETE FROM vision_webhook_events
                WHERE (delivered_at IS NOT NULL AND delivered_at < ?)
                    OR (delivered_at IS NULL AND next_attempt_at IS NULL AND occurred_at < ?)
                """, [.int(deliveredBefore), .int(givenUpBefore)])
        }
    }
}
