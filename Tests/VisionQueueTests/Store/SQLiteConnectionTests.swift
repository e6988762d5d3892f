import Glibc
import Testing
@testable import VisionQueue

/// The write path every store method takes: transactions on the process's shared write handle,
/// several writers of a process in one transaction when they queue behind each other.
@Suite("SQLiteConnection")
final class SQLiteConnectionTests {
    let file = TemporaryDatabase()

    deinit { file.remove() }

    /// A write transaction on a thread of its own (with a connection of its own, as each worker
    /// thread has), its outcome read (waiting up to 5 s) later.
    final class Write: @unchecked Sendable {
        private let started = Gate()
        private let outcome = ThreadOutcome<Result<Void, StoreError>>()

        init(
            _ path: String, busyTimeoutMillis: Int32 = 5_000,
            _ body: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> Void
        ) {
            WorkerThread.start { [self] in
                outcome.set(Result { () throws(StoreError) in
                    let db = try SQLiteConnection(path: path, busyTimeoutMillis: busyTimeoutMillis)
                    try db.writeTransaction { () throws(StoreError) in
                        started.open()
                        try body(db)
                    }
                })
            }
        }

        /// Returns once the write's body runs (waiting up to 5 s).
        func waitUntilStarted() { started.wait() }

        var result: Result<Void, StoreError>? { outcome.value }
    }

    /// Runs `first` holding the write connection until `second` is queued behind it, so that the
    /// two share one transaction.
    private func grouped(
        _ first: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> Void,
        _ second: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> Void,
        secondOpens path: String? = nil, busyTimeoutMillis: Int32 = 5_000
    ) -> (Result<Void, StoreError>?, Result<Void, StoreError>?) {
        let queuedBehind = GroupCommitTests.Journal()
        let firstWrite = Write(file.path) { db throws(StoreError) in
            try first(db)
            for _ in 0..<5_000 where db.queuedWriters == 0 { usleep(1_000) }
            if db.queuedWriters > 0 { queuedBehind.add("second") }
        }
        firstWrite.waitUntilStarted()
        let secondWrite = Write(path ?? file.path, busyTimeoutMillis: busyTimeoutMillis) { db throws(StoreError) in
            try second(db)
        }
        let results = (firstWrite.result, secondWrite.result)
        #expect(queuedBehind.count("second") == 1, "the second writer queued behind the first")
        return results
    }

    private func names(_ db: SQLiteConnection) throws -> [String] {
        try db.rows("SELECT name FROM notes ORDER BY name") { $0.text(0) }
    }

    private func makeTable(_ db: SQLiteConnection) throws {
        try db.writeTransaction { () throws(StoreError) in try db.execute("CREATE TABLE notes (name TEXT NOT NULL, data BLOB)") }
    }

    @Test func aFailedWriteInASharedTransactionUndoesOnlyItsOwnChanges() throws {
        let db = try SQLiteConnection(path: file.path)
        try makeTable(db)
        let (first, second) = grouped(
            { db throws(StoreError) in try db.run("INSERT INTO notes (name) VALUES ('kept')") },
            { db throws(StoreError) in
                try db.run("INSERT INTO notes (name) VALUES ('undone')")
                try db.run("INSERT INTO notes (name) VALUES (NULL)")  // NOT NULL: this writer fails here
            })
        #expect(throws: Never.self) { try first?.get() }
        #expect(throws: StoreError.self) { try second?.get() }
        _ = try db.writeTransaction(durable: false) { () throws(StoreError) in try db.run("INSERT INTO notes (name) VALUES ('after')") }

        #expect(try names(db) == ["after", "kept"])
        let reopened = try SQLiteConnection(path: file.path, durability: .normal)
        #expect(try names(reopened) == ["after", "kept"])
    }

    @Test func aWriteThatEndsTheWholeTransactionLetsTheOthersTryAgain() throws {
        let db = try SQLiteConnection(path: file.path)
        try makeTable(db)
        let pages = try #require(try db.row("PRAGMA page_count") { $0.int(0) })
        let (first, second) = grouped(
            { db throws(StoreError) in try db.run("INSERT INTO notes (name) VALUES ('lost')") },
            { db throws(StoreError) in
                // A full disk: SQLite rolls back the whole transaction, not only this statement.
                try db.execute("PRAGMA max_page_count = \(pages + 4)")
                try db.run("INSERT INTO notes (name, data) VALUES ('too big', randomblob(1000000))")
            })
        #expect(throws: StoreError.busy, "the first writer's work went with the transaction: it may try again") {
            try first?.get()
        }
        #expect(throws: StoreError.self) { try second?.get() }
        try db.writeTransaction { () throws(StoreError) in
            try db.execute("PRAGMA max_page_count = 1073741823")
            try db.run("INSERT INTO notes (name) VALUES ('again')")
        }
        #expect(try names(db) == ["again"])
    }

    @Test func aWriteIsVisibleToEveryConnectionOnceItReturns() throws {
        let writer = try SQLiteConnection(path: file.path)
        let reader = try SQLiteConnection(path: file.path, busyTimeoutMillis: 1_000)
        try makeTable(writer)
        for index in 0..<20 {
            _ = try writer.writeTransaction(durable: index.isMultiple(of: 2)) { () throws(StoreError) in
                try writer.run("INSERT INTO notes (name) VALUES (?)", [.text("n\(index)")])
            }
            #expect(try reader.row("SELECT count(*) FROM notes") { $0.int(0) } == Int64(index + 1))
        }
    }

    /// A connection opens its read handle on its first read outside a write transaction, so a
    /// worker thread that only writes (vision-process's steps) never holds one.
    @Test func aConnectionOpensItsReadHandleOnItsFirstRead() throws {
        let db = try SQLiteConnection(path: file.path)
        try makeTable(db)
        let before = handles(of: file.path)
        let worker = try SQLiteConnection(path: file.path)
        let counted = try worker.writeTransaction { () throws(StoreError) -> Int64? in
            try worker.run("INSERT INTO notes (name) VALUES ('written')")
            return try worker.row("SELECT count(*) FROM notes") { $0.int(0) }
        }
        #expect(counted == 1)
        #expect(handles(of: file.path) == before, "a connection that only wrote holds no handle of its own")
        #expect(try worker.row("SELECT name FROM notes") { $0.text(0) } == "written")
        #expect(handles(of: file.path) == before + 1, "its first read opened one")
    }

    /// This process's open descriptors of the database file.
    private func handles(of path: String) -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        var target = [CChar](repeating: 0, count: 4096)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let length = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
            if length > 0, String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path { count += 1 }
        }
        return count
    }

    /// One file, one writer: connections that name it differently (or wait differently for
    /// locks) still queue in the process's group commit rather than in SQLite's busy handler.
    @Test(arguments: ["double slash", "symlink", "another busy timeout"])
    func connectionsToOneFileShareItsWriter(_ spelling: String) throws {
        let db = try SQLiteConnection(path: file.path)
        try makeTable(db)
        let directory = String(file.path[..<file.path.lastIndex(of: "/")!])
        let name = String(file.path[file.path.index(after: file.path.lastIndex(of: "/")!)...])
        let link = directory + "/link-" + name
        #expect(symlink(file.path, link) == 0)
        defer { unlink(link) }
        let path = switch spelling {
        case "double slash": directory + "//" + name
        case "symlink": link
        default: file.path
        }
        let (first, second) = grouped(
            { db throws(StoreError) in try db.run("INSERT INTO notes (name) VALUES ('first')") },
            { db throws(StoreError) in try db.run("INSERT INTO notes (name) VALUES ('second')") },
            secondOpens: path, busyTimeoutMillis: spelling == "another busy timeout" ? 1_000 : 5_000)
        #expect(throws: Never.self) { try first?.get() }
        #expect(throws: Never.self) { try second?.get() }
        #expect(try names(db) == ["first", "second"])
    }

    @Test func onlyTheTwoDurabilitiesSafeInWALModeAreAccepted() throws {
        #expect(SQLiteDurability(setting: "full") == .full)
        #expect(SQLiteDurability(setting: "NORMAL") == .normal)
        for unknown in ["OFF", "EXTRA", "FUL", "", "2"] {
            #expect(SQLiteDurability(setting: unknown) == nil)
            #expect(throws: ConfigurationError.self) {
                try VisionQueueConfiguration(environment: ["VQ_SYNCHRONOUS": unknown.isEmpty ? "none" : unknown])
            }
        }
    }
}
