import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// A deploy starts every process of every node at once, and each brings the schema up to date
/// before it serves. Ten real processes (`vision-queue sweep`, which migrates as `serve` does) on
/// one database that does not exist yet.
@Suite("Migrations")
struct MigrationTests {
    @Test("Ten processes starting at once on a new database: every one starts, the schema is migrated exactly once", arguments: StoreBackend.allCases)
    func tenAtOnce(_ backend: StoreBackend) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vq-migrate-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var environment = ProcessInfo.processInfo.environment
        let postgres = backend == .postgres ? try TestPostgres.shared.get() : nil
        let schema = postgres?.freshSchema() ?? ""
        if let postgres {
            environment["VQ_DATABASE_URL"] = postgres.url
            environment["VQ_DATABASE_SCHEMA"] = schema
        } else {
            environment["VQ_DB_PATH"] = folder + "/new.sqlite3"
        }
        environment["VQ_DATA_DIR"] = folder
        environment["VQ_TRIGGER_SECRET"] = "migration-test"

        let processes = try (0..<10).map { _ in try Command(Stack.binDirectory + "/vision-queue", ["sweep"], environment: environment) }
        for process in processes {
            let (status, text) = process.wait()
            #expect(status == 0, "a process failed to start on the new database: \(text)")
            #expect(text.contains("triggered 0 stalled jobs"), "\(text)")
        }

        let database: TestDatabase
        if let postgres {
            let connection = postgres.connection(schema: schema)
            let versions = try connection.rows("SELECT version FROM schema_migrations ORDER BY version") { $0.int(0) }
            #expect(versions == Array(1...Int64(versions.count)) && !versions.isEmpty, "each migration recorded once: \(versions)")
            database = TestDatabase(postgres: postgres, migratedSchema: schema)
        } else {
            database = TestDatabase(sqliteFile: folder + "/new.sqlite3")
        }
        // And the store works on it.
        let store = try database.store()
        let id = try store.createJob(NewJob(userID: "after-migration", notes: [:]), now: t0).id
        #expect(try store.job(id, ownedBy: "after-migration")?.status == .pending)
    }
}
