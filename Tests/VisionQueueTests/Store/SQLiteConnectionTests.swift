import Testing
@testable import VisionQueue

/// The write path every store method takes: transactions on the process's shared write handle.
@Suite("SQLiteConnection")
final class SQLiteConnectionTests {
    let file = TemporaryDatabase()

    deinit { file.remove() }

    private func names(_ db: SQLiteConnection) throws -> [String] {
        try db.rows("SELECT name FROM notes ORDER BY name") { $0.text(0) }
    }

    @Test func aFailedWriteUndoesOnlyItsOwnChangesAndTheHandleGoesOnWorking() throws {
        let first = try SQLiteConnection(path: file.path)
        let second = try SQLiteConnection(path: file.path)
        try first.writeTransaction { () throws(StoreError) in try first.execute("CREATE TABLE notes (name TEXT NOT NULL)") }
        try first.writeTransaction { () throws(StoreError) in try first.run("INSERT INTO notes VALUES ('kept')") }

        #expect(throws: StoreError.self) {
            try second.writeTransaction { () throws(StoreError) in
                try second.run("INSERT INTO notes VALUES ('undone')")
                try second.run("INSERT INTO notes VALUES (NULL)")  // NOT NULL: the transaction fails here
            }
        }
        try second.writeTransaction(durable: false) { () throws(StoreError) in try second.run("INSERT INTO notes VALUES ('after')") }

        #expect(try names(first) == ["after", "kept"])
        let reopened = try SQLiteConnection(path: file.path, synchronous: "NORMAL")
        #expect(try names(reopened) == ["after", "kept"])
    }

    @Test func aWriteIsVisibleToEveryConnectionOnceItReturns() throws {
        let writer = try SQLiteConnection(path: file.path)
        let reader = try SQLiteConnection(path: file.path, busyTimeoutMillis: 1_000)
        try writer.writeTransaction { () throws(StoreError) in try writer.execute("CREATE TABLE notes (name TEXT NOT NULL)") }
        for index in 0..<20 {
            try writer.writeTransaction(durable: index.isMultiple(of: 2)) { () throws(StoreError) in
                try writer.run("INSERT INTO notes VALUES (?)", [.text("n\(index)")])
            }
            #expect(try reader.row("SELECT count(*) FROM notes") { $0.int(0) } == Int64(index + 1))
        }
    }
}
