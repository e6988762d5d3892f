import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// The libpq connection on a real server: what its failures become, and that the connection
/// string's password reaches no error (and so no log or answer).
@Suite("PostgreSQL connection")
struct PostgresConnectionTests {
    static let password = "pg-s3cret-Passw0rd"

    @Test("A server out of reach is unavailable (503), and the error never carries the password")
    func unreachable() throws {
        let port = try Stack.freePort()
        let connection = PostgresConnection(.init(url: "postgres://vq:\(Self.password)@127.0.0.1:\(port)/postgres", schema: "public"))
        #expect(throws: StoreError.self) { try connection.execute("SELECT 1") }
        do {
            try connection.execute("SELECT 1")
        } catch {
            #expect(error.isTransient, "\(error)")
            #expect(!"\(error)".contains(Self.password), "\(error)")
        }
    }

    @Test("An error the server reports about the login is redacted too")
    func serverErrorRedacted() throws {
        let postgres = try TestPostgres.shared.get()
        // A database named after the password: the server's message quotes it back.
        let connection = PostgresConnection(
            .init(url: "postgres://postgres:\(Self.password)@127.0.0.1:\(postgres.port)/\(Self.password)", schema: "public"))
        do {
            try connection.execute("SELECT 1")
            Issue.record("connected to a database that does not exist")
        } catch {
            #expect("\(error)".contains("[redacted]"), "\(error)")
            #expect(!"\(error)".contains(Self.password), "\(error)")
        }
    }

    @Test("Errors by SQLSTATE: a lock timeout is busy, a protocol violation and a syntax error are the backend's, the connection survives them")
    func errorsBySQLState() throws {
        let postgres = try TestPostgres.shared.get()
        let schema = postgres.freshSchema()
        let connection = postgres.connection(schema: schema)
        try connection.execute("CREATE SCHEMA \(schema); CREATE TABLE \(schema).t (id integer PRIMARY KEY)")
        try connection.run("INSERT INTO t (id) VALUES (?)", [.int(1)])

        #expect(Self.code { try connection.run("DELETE FROM t WHERE id = ? AND id = ?", [.int(1)]) } == "SQLSTATE 08P01")
        #expect(Self.code { try connection.execute("SELEC 1") } == "SQLSTATE 42601")

        // Another connection holds the row; this one's lock_timeout (here 200 ms) makes it busy.
        let holder = postgres.connection(schema: schema)
        let waiter = PostgresConnection(.init(url: postgres.url, schema: schema, lockTimeoutMillis: 200))
        try holder.execute("BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE")
        #expect(throws: StoreError.busy) {
            try waiter.writeTransaction { () throws(StoreError) in try waiter.run("UPDATE t SET id = 2 WHERE id = 1") }
        }
        try holder.execute("COMMIT")
        #expect(try connection.row("SELECT COUNT(*) FROM t") { $0.int(0) } == 1, "the connection still works")
        try waiter.writeTransaction { () throws(StoreError) in try waiter.run("UPDATE t SET id = 2 WHERE id = 1") }
    }

    /// The backend code of the error `body` throws; the error itself when it is another kind.
    static func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as StoreError {
            if case .backend(let code, _) = error { return code }
            return "\(error)"
        } catch {
            return "\(error)"
        }
    }
}
