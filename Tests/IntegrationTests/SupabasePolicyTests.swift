import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// docs/supabase-policies.sql, applied as the docs say to a schema the service filled, then read
/// the way an app's Supabase client reads it: as the `authenticated` role with the user's JWT
/// claims, through `auth.uid()`. A real PostgreSQL; `auth.uid()` and the two roles are stand-ins
/// for Supabase's own, defined as Supabase defines them.
@Suite("Supabase row-level security (docs/supabase-policies.sql)")
struct SupabasePolicyTests {
    static let alice = "5b0e7d0a-1c2b-4f5e-9a7d-3e2f1a0b9c8d"
    static let bob = "9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b"

    @Test("A signed-in user reads their own jobs, categories, model calls and visions and nothing else; nobody writes; anon reads nothing")
    func ownRowsOnly() throws {
        let stack = try Stack.start(.init(store: .postgres))
        defer { stack.stop() }
        var jobs: [String: String] = [:]
        for user in [Self.alice, Self.bob] {
            let token = stack.token(for: user)
            let id = try stack.createJob(token: token)
            let final = try stack.waitForJob(id, token: token)
            #expect(final["status"] as? String == "completed")
            jobs[user] = id
        }
        let owner = try stack.db()
        // A model call for each job (the built-in generator makes none), so the policy on them is seen to filter.
        for id in jobs.values {
            try owner.run(
                "INSERT INTO vision_model_calls (job_id, position, attempt, outcome, prompt_tokens, completion_tokens, latency_ms, ended_at) VALUES (CAST(? AS uuid), 0, 1, 'written', 10, 20, 30, 0)",
                [.text(id)])
        }
        // Earlier versions of each vision (a rewrite makes them; these jobs had none).
        try owner.run(
            """
            INSERT INTO vision_versions (vision_id, version, user_id, job_id, document, created_at)
            SELECT id, 0, user_id, job_id, document, created_at FROM visions
            """)
        try Self.defineSupabaseStandIns(owner)
        // What a project may already grant (Supabase's defaults do so for its public schema): the
        // policies file must take it back from anon.
        let schema = stack.database.location
        try owner.execute("GRANT USAGE ON SCHEMA \(schema) TO anon, authenticated; GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO anon")
        try owner.execute(Self.policies(schema: schema))

        let alice = try stack.db()
        try Self.signIn(alice, as: Self.alice)
        let aliceJob = try #require(jobs[Self.alice])
        #expect(try alice.rows("SELECT id::text FROM vision_generation_jobs") { $0.text(0) } == [aliceJob])
        #expect(try alice.rows("SELECT DISTINCT job_id::text FROM vision_job_categories") { $0.text(0) } == [aliceJob])
        #expect(try alice.row("SELECT count(*) FROM vision_job_categories") { $0.int(0) } == 12)
        #expect(try alice.rows("SELECT job_id::text FROM vision_model_calls") { $0.text(0) } == [aliceJob])
        #expect(try alice.rows("SELECT job_id::text FROM visions") { $0.text(0) } == [aliceJob])
        #expect(try alice.rows("SELECT DISTINCT user_id FROM vision_versions") { $0.text(0) } == [Self.alice])
        // The service still sees everything (it owns the tables).
        #expect(try owner.row("SELECT count(*) FROM vision_generation_jobs") { $0.int(0) } == 2)

        // Reads only: the API's endpoints are the one way to change a job.
        for write in [
            "UPDATE vision_generation_jobs SET status = 'cancelled'",
            "DELETE FROM visions",
            "INSERT INTO vision_job_reruns (user_id, job_id, kind, at) VALUES ('x', gen_random_uuid(), 'retry', 0)",
            "SELECT count(*) FROM vision_job_reruns",
        ] {
            #expect(Self.sqlState(of: write, on: alice) == Self.permissionDenied, "\(write) is refused")
        }

        let unsigned = try stack.db()
        try unsigned.execute("SET ROLE authenticated")
        #expect(try unsigned.row("SELECT count(*) FROM vision_generation_jobs") { $0.int(0) } == 0, "no claims, no rows")

        let anon = try stack.db()
        try anon.execute("SET ROLE anon")
        for table in ["vision_generation_jobs", "visions"] {
            let sql = "SELECT count(*) FROM \(stack.database.location).\(table)"
            #expect(Self.sqlState(of: sql, on: anon) == Self.permissionDenied, "anon reads nothing of \(table)")
        }
    }

    /// The policies as shipped, for the schema the test's stack used.
    static func policies(schema: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/supabase-policies.sql"), encoding: .utf8)
        return text.replacingOccurrences(of: "vision_queue", with: schema)
    }

    /// Supabase's roles and `auth.uid()` (the `sub` of the request's JWT claims), made once per server.
    static func defineSupabaseStandIns(_ db: any SQLDatabase) throws {
        try db.execute(
            """
            SELECT pg_advisory_lock(4242);
            DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
            END $$;
            CREATE SCHEMA IF NOT EXISTS auth;
            CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
                SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
            $$;
            GRANT USAGE ON SCHEMA auth TO authenticated, anon;
            SELECT pg_advisory_unlock(4242);
            """)
    }

    /// What PostgREST does for a request with the user's token: the role, then the claims.
    static func signIn(_ db: any SQLDatabase, as user: String) throws {
        try db.execute("SET ROLE authenticated")
        try db.execute("SELECT set_config('request.jwt.claims', '{\"sub\":\"\(user)\",\"role\":\"authenticated\"}', false)")
    }

    static let permissionDenied = "SQLSTATE 42501"

    static func sqlState(of sql: String, on db: any SQLDatabase) -> String? {
        do {
            try db.execute(sql)
            return nil
        } catch {
            if case .backend(let code, _) = error { return code }
            return "\(error)"
        }
    }
}
