/// The PostgreSQL schema as an ordered list of migrations, recorded in `schema_migrations`.
///
/// The job table is the app's own `vision_generation_jobs`: `id` a uuid, and `created_at`,
/// `started_at`, `completed_at` real `timestamptz` columns (kept from the millisecond times the
/// service writes), so an app on Supabase reads its users' jobs with its own client (see
/// docs/supabase.md for the row-level security policies). Everything lives in one schema
/// (`VQ_DATABASE_SCHEMA`, default `vision_queue`).
public enum PostgresSchema {
    static let migrations: [String] = [
        // 1: jobs, categories, visions and their versions, model calls, reruns: the SQLite
        // schema's six migrations at once.
        """
        CREATE TABLE vision_generation_jobs (
            id uuid PRIMARY KEY,
            user_id text NOT NULL,
            status text NOT NULL CHECK (status IN ('pending','processing','completed','failed','cancelled')),
            current_category text,
            categories_completed integer NOT NULL DEFAULT 0,
            categories_failed integer NOT NULL DEFAULT 0,
            vision_id text,
            input text NOT NULL,
            error text,
            created_at_ms bigint NOT NULL,
            started_at_ms bigint,
            completed_at_ms bigint,
            created_at timestamptz GENERATED ALWAYS AS (to_timestamp(created_at_ms / 1000.0)) STORED,
            started_at timestamptz GENERATED ALWAYS AS (to_timestamp(started_at_ms / 1000.0)) STORED,
            completed_at timestamptz GENERATED ALWAYS AS (to_timestamp(completed_at_ms / 1000.0)) STORED,
            updated_at bigint NOT NULL,
            last_kick_at bigint,
            idempotency_key text,
            request_hash text,
            version bigint NOT NULL DEFAULT 0,
            prompt_tokens bigint NOT NULL DEFAULT 0,
            completion_tokens bigint NOT NULL DEFAULT 0,
            assembly_claimed_until bigint,
            assembly_claim_token text,
            assembly_note text
        );
        CREATE INDEX vision_generation_jobs_by_user ON vision_generation_jobs (user_id, created_at_ms DESC);
        CREATE INDEX vision_generation_jobs_unfinished ON vision_generation_jobs (updated_at)
            WHERE status IN ('pending', 'processing');
        CREATE UNIQUE INDEX vision_generation_jobs_idempotency ON vision_generation_jobs (user_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX vision_generation_jobs_active_by_user ON vision_generation_jobs (user_id, created_at_ms DESC)
            WHERE status IN ('pending', 'processing');

        CREATE TABLE vision_job_categories (
            job_id uuid NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            position integer NOT NULL,
            category text NOT NULL,
            status text NOT NULL CHECK (status IN ('pending','running','done','retrying','failed')),
            attempts integer NOT NULL DEFAULT 0,
            total_attempts integer NOT NULL DEFAULT 0,
            output text,
            previous_output text,
            partial_output text,
            error text,
            lease_token text,
            lease_owner text,
            lease_expires_at bigint,
            next_attempt_at bigint,
            waiting_until bigint,
            waiting_reason text,
            truncated integer NOT NULL DEFAULT 0,
            prompt_tokens bigint NOT NULL DEFAULT 0,
            completion_tokens bigint NOT NULL DEFAULT 0,
            model_millis bigint NOT NULL DEFAULT 0,
            started_at bigint,
            completed_at bigint,
            updated_at bigint NOT NULL,
            PRIMARY KEY (job_id, position)
        );
        CREATE INDEX vision_job_categories_running ON vision_job_categories (lease_expires_at)
            WHERE status = 'running';
        CREATE INDEX vision_job_categories_recent_done ON vision_job_categories (completed_at)
            WHERE status = 'done';

        CREATE TABLE visions (
            id text PRIMARY KEY,
            user_id text NOT NULL,
            job_id uuid NOT NULL UNIQUE REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            fun text, health text, travel text, love text, family text, social text, home text,
            work text, money text, possessions text, giving text, spirituality text,
            document text NOT NULL,
            created_at bigint NOT NULL,
            version integer NOT NULL DEFAULT 1
        );
        CREATE TABLE vision_versions (
            vision_id text NOT NULL,
            version integer NOT NULL,
            user_id text NOT NULL,
            job_id uuid NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            fun text, health text, travel text, love text, family text, social text, home text,
            work text, money text, possessions text, giving text, spirituality text,
            document text NOT NULL,
            created_at bigint NOT NULL,
            PRIMARY KEY (vision_id, version)
        );
        CREATE TABLE vision_model_calls (
            job_id uuid NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            position integer NOT NULL,
            attempt integer NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('written', 'truncated', 'failed')),
            error text,
            prompt_tokens bigint NOT NULL,
            completion_tokens bigint NOT NULL,
            latency_ms bigint NOT NULL,
            ended_at bigint NOT NULL,
            PRIMARY KEY (job_id, position, attempt)
        );
        CREATE TABLE vision_job_reruns (
            user_id text NOT NULL,
            job_id uuid NOT NULL REFERENCES vision_generation_jobs (id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('retry', 'regenerate')),
            at bigint NOT NULL
        );
        CREATE INDEX vision_job_reruns_by_user ON vision_job_reruns (user_id, at);
        """,
        // 2: the webhook outbox (see SQLiteSchema's migration 7).
        """
        CREATE TABLE vision_webhook_events (
            id text PRIMARY KEY,
            type text NOT NULL CHECK (type IN ('job.completed', 'job.failed', 'job.cancelled')),
            job_id uuid NOT NULL,
            user_id text NOT NULL,
            status text NOT NULL,
            vision_id text,
            categories_completed integer NOT NULL,
            categories_failed integer NOT NULL,
            prompt_tokens bigint NOT NULL,
            completion_tokens bigint NOT NULL,
            error text,
            created_at_ms bigint NOT NULL,
            started_at_ms bigint,
            completed_at_ms bigint,
            occurred_at bigint NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at bigint,
            delivered_at bigint,
            last_error text
        );
        CREATE INDEX vision_webhook_events_due ON vision_webhook_events (next_attempt_at)
            WHERE next_attempt_at IS NOT NULL;
        """,
    ]

    static var version: Int { migrations.count }

    /// A constant for the advisory lock migrations hold: ten nodes starting at once migrate one
    /// after the other, and all but the first find nothing to do.
    static let migrationLock: Int64 = 0x5651_4D49_4752_0001

    /// Brings the schema up to date in one transaction, under the migration lock.
    public static func migrate(_ db: PostgresConnection, schema: String) throws(StoreError) {
        try db.writeTransaction(durable: true) { () throws(StoreError) in
            try db.execute("SELECT pg_advisory_xact_lock(\(migrationLock))")
            try db.execute("CREATE SCHEMA IF NOT EXISTS \(PostgresConnection.quoted(schema))")
            try db.execute("SET LOCAL search_path TO \(PostgresConnection.quoted(schema)), public")
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            let current = Int(try db.row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { $0.int(0) } ?? 0)
            guard current <= version else { throw .schemaTooNew(found: current, supported: version) }
            for index in current..<version {
                try db.execute(migrations[index])
                try db.execute("INSERT INTO schema_migrations (version) VALUES (\(index + 1))")
            }
        }
    }
}
