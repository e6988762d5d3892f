/// The database schema as an ordered list of migrations; `PRAGMA user_version` records how many
/// have run. Every binary migrates on start, inside one `BEGIN IMMEDIATE`, so concurrent starts
/// are safe and a half-applied migration never exists.
enum SQLiteSchema {
    static let migrations: [String] = [
        // 1: jobs, their categories and the finished visions.
        """
        CREATE TABLE vision_generation_jobs (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','processing','completed','failed','cancelled')),
            current_category TEXT,
            categories_completed INTEGER NOT NULL DEFAULT 0,
            categories_failed INTEGER NOT NULL DEFAULT 0,
            vision_id TEXT,
            input TEXT NOT NULL,
            error TEXT,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            completed_at INTEGER,
            updated_at INTEGER NOT NULL,
            last_kick_at INTEGER
        ) STRICT;
        CREATE INDEX vision_generation_jobs_by_user ON vision_generation_jobs (user_id, created_at DESC);
        CREATE INDEX vision_generation_jobs_unfinished ON vision_generation_jobs (updated_at)
            WHERE status IN ('pending', 'processing');

        CREATE TABLE vision_job_categories (
            job_id TEXT NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            category TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','running','done','retrying','failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            total_attempts INTEGER NOT NULL DEFAULT 0,
            output TEXT,
            error TEXT,
            lease_token TEXT,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            next_attempt_at INTEGER,
            started_at INTEGER,
            completed_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (job_id, position)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX vision_job_categories_running ON vision_job_categories (lease_expires_at)
            WHERE status = 'running';

        CREATE TABLE visions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            job_id TEXT NOT NULL UNIQUE REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            fun TEXT, health TEXT, travel TEXT, love TEXT, family TEXT, social TEXT, home TEXT,
            work TEXT, money TEXT, possessions TEXT, giving TEXT, spirituality TEXT,
            document TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) STRICT;
        """,
        // 2: idempotent creates. The key is the client's, scoped to its user; the hash is of the
        // request it came with, so a reused key with another body is told apart.
        """
        ALTER TABLE vision_generation_jobs ADD COLUMN idempotency_key TEXT;
        ALTER TABLE vision_generation_jobs ADD COLUMN request_hash TEXT;
        CREATE UNIQUE INDEX vision_generation_jobs_idempotency ON vision_generation_jobs (user_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX vision_generation_jobs_active_by_user ON vision_generation_jobs (user_id, created_at DESC)
            WHERE status IN ('pending', 'processing');
        """,
        // 3: a version bumped by every change a status answer shows, so status can answer an
        // unchanged job from memory.
        """
        ALTER TABLE vision_generation_jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
        """,
        // 4: model generation. The running attempt's text so far and its Retry-After wait (what the
        // page shows live), tokens and model time per category and per job, and every model call
        // (a category's attempts; position 12 is the assembly) with what it cost.
        """
        ALTER TABLE vision_job_categories ADD COLUMN partial_output TEXT;
        ALTER TABLE vision_job_categories ADD COLUMN waiting_until INTEGER;
        ALTER TABLE vision_job_categories ADD COLUMN waiting_reason TEXT;
        ALTER TABLE vision_job_categories ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_job_categories ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_job_categories ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_job_categories ADD COLUMN model_millis INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_generation_jobs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_generation_jobs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE vision_generation_jobs ADD COLUMN assembly_claimed_until INTEGER;
        ALTER TABLE vision_generation_jobs ADD COLUMN assembly_claim_token TEXT;
        ALTER TABLE vision_generation_jobs ADD COLUMN assembly_note TEXT;
        CREATE TABLE vision_model_calls (
            job_id TEXT NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('written', 'truncated', 'failed')),
            error TEXT,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            latency_ms INTEGER NOT NULL,
            ended_at INTEGER NOT NULL,
            PRIMARY KEY (job_id, position, attempt)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX vision_job_categories_recent_done ON vision_job_categories (completed_at)
            WHERE status = 'done';
        """,
        // 5: rewriting one section. The text a rewrite replaces is kept until the new one is
        // stored (and restored if the rewrite fails); every earlier version of a vision is kept;
        // retries and rewrites count against the user's hourly limit like creates.
        """
        ALTER TABLE vision_job_categories ADD COLUMN previous_output TEXT;
        ALTER TABLE visions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE vision_versions (
            vision_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            job_id TEXT NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            fun TEXT, health TEXT, travel TEXT, love TEXT, family TEXT, social TEXT, home TEXT,
            work TEXT, money TEXT, possessions TEXT, giving TEXT, spirituality TEXT,
            document TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (vision_id, version)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE vision_job_reruns (
            user_id TEXT NOT NULL,
            job_id TEXT NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('retry', 'regenerate')),
            at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX vision_job_reruns_by_user ON vision_job_reruns (user_id, at);
        """,
        // 6: the job's times in milliseconds are named for it, as in the PostgreSQL schema, where
        // created_at, started_at and completed_at are the timestamps an app reads.
        """
        ALTER TABLE vision_generation_jobs RENAME COLUMN created_at TO created_at_ms;
        ALTER TABLE vision_generation_jobs RENAME COLUMN started_at TO started_at_ms;
        ALTER TABLE vision_generation_jobs RENAME COLUMN completed_at TO completed_at_ms;
        """,
        // 7: the webhook outbox. An event is written in the transaction that ends a run, with the
        // job as it then was; `next_attempt_at` is NULL once delivered or given up. No foreign key:
        // an event outlives a deleted job until it is delivered.
        """
        CREATE TABLE vision_webhook_events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL CHECK (type IN ('job.completed', 'job.failed', 'job.cancelled')),
            job_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            status TEXT NOT NULL,
            vision_id TEXT,
            categories_completed INTEGER NOT NULL,
            categories_failed INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            error TEXT,
            created_at_ms INTEGER NOT NULL,
            started_at_ms INTEGER,
            completed_at_ms INTEGER,
            occurred_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            delivered_at INTEGER,
            last_error TEXT
        ) STRICT;
        CREATE INDEX vision_webhook_events_due ON vision_webhook_events (next_attempt_at)
            WHERE next_attempt_at IS NOT NULL;
        """,
    ]

    static var version: Int { migrations.count }

    static func migrate(_ db: SQLiteConnection) throws(StoreError) {
        try db.writeTransaction { () throws(StoreError) in
            let current = Int(try db.row("PRAGMA user_version") { $0.int(0) } ?? 0)
            guard current <= version else { throw .schemaTooNew(found: current, supported: version) }
            for index in current..<version {
                try db.execute(migrations[index])
            }
            if current != version { try db.execute("PRAGMA user_version = \(version)") }
        }
    }
}
