import Glibc
import Synchronization
import Testing
@testable import VisionQueue

/// `GroupCommit` on its own, with recorded steps in place of a database, so that the grouping
/// can be forced: the first writer's work waits until the others are queued behind it.
@Suite("GroupCommit")
struct GroupCommitTests {
    /// What the steps did, in order, from every thread.
    final class Journal: Sendable {
        private let entries = Mutex<[String]>([])

        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
        func count(_ entry: String) -> Int { all.filter { $0 == entry }.count }
    }

    /// Stands in for the database's transaction: open from `begin` until a member ends it.
    final class Transaction: Sendable {
        private let lost = Mutex(false)

        var isOpen: Bool { lost.withLock { !$0 } }
        func begin() { lost.withLock { $0 = false } }
        func end() { lost.withLock { $0 = true } }
    }

    /// Runs one writer on its own thread; `work` is its member step.
    final class Writer: @unchecked Sendable {
        private let outcome = ThreadOutcome<Result<String, StoreError>>()

        init(
            _ commits: GroupCommit, _ journal: Journal, name: String, durable: Bool = true, waitingAtMost: Int = 5_000,
            failing: Bool = false, endingTheTransaction: Bool = false, transaction: Transaction = Transaction(),
            work: @escaping @Sendable () -> Void = {}, syncing: @escaping @Sendable () -> Void = {}
        ) {
            WorkerThread.start { [self] in
                let outcome = Result { () throws(StoreError) -> String in
                    try commits.run(
                        durable: durable, waitingAtMost: waitingAtMost,
                        isOpen: { transaction.isOpen },
                        begin: {
                            journal.add("begin")
                            transaction.begin()
                        },
                        member: { () throws(StoreError) -> String in
                            work()
                            journal.add("member \(name)")
                            if endingTheTransaction { transaction.end() }
                            if failing || endingTheTransaction { throw StoreError.backend(code: "1", message: "\(name) failed") }
                            return name
                        },
                        commit: { () throws(StoreError) in
                            guard transaction.isOpen else { throw StoreError.busy }
                            journal.add("commit")
                        },
                        rollback: { journal.add("rollback") },
                        sync: {
                            syncing()
                            journal.add("sync")
                        })
                }
                journal.add("returned \(name)")
                self.outcome.set(outcome)
            }
        }

        /// The writer's outcome once it returned (waiting up to 5 s for it).
        var result: Result<String, StoreError>? { outcome.value }
    }

    /// Starts writer "a", which holds the turn (inside its member step) until `gate` opens, so
    /// that writers started meanwhile queue behind it; returns once "a" has begun.
    private func holdingWriter(
        _ commits: GroupCommit, _ journal: Journal, _ gate: Gate, durable: Bool = true,
        transaction: Transaction = Transaction(), syncing: @escaping @Sendable () -> Void = {}
    ) -> Writer {
        let writer = Writer(
            commits, journal, name: "a", durable: durable, transaction: transaction, work: { gate.wait() }, syncing: syncing)
        #expect(eventually { journal.count("begin") == 1 })
        return writer
    }

    @Test func writersQueuedBehindOneShareItsTransactionAndItsSync() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        // The first writer holds its turn until three others have queued behind it.
        let first = holdingWriter(commits, journal, gate)
        let others = ["b", "c", "d"].map { name in Writer(commits, journal, name: name) }
        #expect(eventually { commits.queuedWriters == 3 })
        #expect(journal.all == ["begin"], "nothing of theirs runs while \"a\" holds the turn")
        gate.open()
        for writer in [first] + others { _ = writer.result }

        let entries = journal.all
        #expect(journal.count("begin") == 1, "one transaction for all four: \(entries)")
        #expect(journal.count("commit") == 1, "one commit for all four: \(entries)")
        #expect(journal.count("sync") == 1, "one sync for all four: \(entries)")
        let commit = try #require(entries.firstIndex(of: "sync"))
        for name in ["a", "b", "c", "d"] {
            // Nobody is told its write is done before the group's commit reached the disk.
            let returned = try #require(entries.firstIndex(of: "returned \(name)"))
            #expect(returned > commit, "\(name) returned before the sync: \(entries)")
        }
        #expect(([first] + others).map { try? $0.result?.get() } == ["a", "b", "c", "d"])
    }

    @Test func aFailedMemberGetsItsOwnErrorAndTheOthersCommit() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        let first = holdingWriter(commits, journal, gate)
        let failing = Writer(commits, journal, name: "b", failing: true)
        let last = Writer(commits, journal, name: "c")
        #expect(eventually { commits.queuedWriters == 2 })
        gate.open()
        for writer in [first, failing, last] { _ = writer.result }

        #expect(journal.count("commit") == 1)
        #expect(journal.count("rollback") == 0)
        #expect(try first.result?.get() == "a")
        #expect(try last.result?.get() == "c")
        #expect(throws: StoreError.backend(code: "1", message: "b failed")) { try failing.result?.get() }
    }

    @Test func aGroupWithoutDurableMembersIsNotSynced() {
        let commits = GroupCommit()
        let journal = Journal()
        _ = Writer(commits, journal, name: "a", durable: false).result
        #expect(journal.all == ["begin", "member a", "commit", "returned a"])
        _ = Writer(commits, journal, name: "b", durable: true).result
        #expect(journal.all.suffix(5) == ["begin", "member b", "commit", "sync", "returned b"])
    }

    @Test func aWriterThatWaitsTooLongIsToldBusyAndTheGroupStillCommits() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        let first = holdingWriter(commits, journal, gate)
        let impatient = Writer(commits, journal, name: "b", waitingAtMost: 20)
        #expect(throws: StoreError.busy) { try impatient.result?.get() }
        gate.open()
        #expect(try first.result?.get() == "a")
        #expect(journal.count("commit") == 1)
        #expect(!journal.all.contains("member b"))
    }

    @Test func aMemberThatEndsTheWholeTransactionFailsTheEarlierMembersWithBusy() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        let transaction = Transaction()
        let first = holdingWriter(commits, journal, gate, transaction: transaction)
        let breaking = Writer(commits, journal, name: "b", endingTheTransaction: true, transaction: transaction)
        #expect(eventually { commits.queuedWriters == 1 })
        gate.open()

        // "a"'s work went with the transaction: it is told to try again, "b" gets its own error.
        #expect(throws: StoreError.busy) { try first.result?.get() }
        #expect(throws: StoreError.backend(code: "1", message: "b failed")) { try breaking.result?.get() }
        #expect(journal.count("commit") == 0)
        let next = Writer(commits, journal, name: "c", transaction: transaction)
        #expect(try next.result?.get() == "c")
        #expect(journal.count("begin") == 2)
    }

    @Test func aWriterJoiningAnEndedTransactionBeginsAFreshOne() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        let transaction = Transaction()
        let first = holdingWriter(commits, journal, gate, transaction: transaction)
        // "b" ends the transaction only once "c" is queued behind it, so "c" joins what is left.
        let breaking = Writer(commits, journal, name: "b", endingTheTransaction: true, transaction: transaction) {
            journal.add("b running")
            _ = eventually { commits.queuedWriters == 1 }
        }
        #expect(eventually { commits.queuedWriters == 1 })
        gate.open()
        #expect(eventually { journal.count("b running") == 1 })
        let joining = Writer(commits, journal, name: "c", transaction: transaction)

        #expect(try joining.result?.get() == "c", "c writes in a transaction of its own: \(journal.all)")
        #expect(throws: StoreError.busy) { try first.result?.get() }
        #expect(throws: StoreError.backend(code: "1", message: "b failed")) { try breaking.result?.get() }
        #expect(journal.count("begin") == 2)
        #expect(journal.count("commit") == 1)
    }

    @Test func aWriterThatDidNotAskForTheDiskReturnsAtCommitAndTheOthersAfterTheSync() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        let claim = holdingWriter(commits, journal, gate, durable: false)
        // The disk takes as long as "a" takes to return: forever, if "a" waited for it.
        let result = Writer(commits, journal, name: "b", durable: true, syncing: {
            _ = eventually { journal.count("returned a") == 1 }
        })
        #expect(eventually { commits.queuedWriters == 1 })
        gate.open()
        #expect(try claim.result?.get() == "a")
        #expect(try result.result?.get() == "b")
        let entries = journal.all
        #expect(entries.firstIndex(of: "returned a")! < entries.firstIndex(of: "sync")!, "\(entries)")
        #expect(entries.firstIndex(of: "returned b")! > entries.firstIndex(of: "sync")!, "\(entries)")
        #expect(journal.count("sync") == 1)
    }

    @Test func aCommitterThatDidNotAskForTheDiskReturnsBeforeTheSyncADurableMemberRunsForTheGroup() throws {
        let commits = GroupCommit()
        let journal = Journal()
        let gate = Gate()
        // The disk takes as long as "b" takes to return: forever, if "b" waited for it.
        let slowDisk: @Sendable (String) -> Void = { name in
            journal.add("\(name) syncing")
            _ = eventually { journal.count("returned b") == 1 }
        }
        let result = holdingWriter(commits, journal, gate, durable: true, syncing: { slowDisk("a") })
        // "b", a claim, comes last: it commits the group.
        let claim = Writer(commits, journal, name: "b", durable: false, syncing: { slowDisk("b") })
        #expect(eventually { commits.queuedWriters == 1 })
        gate.open()
        #expect(try claim.result?.get() == "b")
        #expect(try result.result?.get() == "a")
        let entries = journal.all
        let commit = try #require(entries.firstIndex(of: "commit"))
        let sync = try #require(entries.firstIndex(of: "sync"))
        let returnedB = try #require(entries.firstIndex(of: "returned b"))
        let returnedA = try #require(entries.firstIndex(of: "returned a"))
        #expect(commit < returnedB && returnedB < sync, "\(entries)")
        #expect(returnedA > sync, "\(entries)")
        #expect(journal.count("sync") == 1)
        #expect(journal.count("a syncing") == 1, "the durable member syncs for the group: \(entries)")
        #expect(journal.count("b syncing") == 0, "\(entries)")
    }
}
