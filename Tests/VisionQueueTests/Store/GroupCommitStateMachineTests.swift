import Testing
@testable import VisionQueue

/// `GroupCommitStateMachine` without threads: each test plays the events several writers would
/// report, in one order `GroupCommit` allows, and checks every action the machine answers with.
/// Groups are named by strings ("g1", "g2") where `GroupCommit` uses its condition variables.
@Suite("GroupCommitStateMachine")
struct GroupCommitStateMachineTests {
    typealias Machine = GroupCommitStateMachine<String>
    typealias Action = Machine.Action
    typealias Wakes = Machine.Wakes

    let diskFull = StoreError.backend(code: "13", message: "database or disk is full")
    let ioError = StoreError.backend(code: "10", message: "disk I/O error")

    /// A writer arriving at a free connection begins `group` and runs its work in it.
    private func begins(_ machine: inout Machine, _ group: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(machine.arrived() == Action(.begin), sourceLocation: sourceLocation)
        #expect(machine.begun(group) == Action(.runMember(in: group)), sourceLocation: sourceLocation)
    }

    /// A writer arriving while another one runs queues.
    private func queues(_ machine: inout Machine, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(machine.arrived() == Action(.waitForTurn), sourceLocation: sourceLocation)
    }

    /// A queued writer woken for its turn joins `group`, handed on to it.
    private func joins(_ machine: inout Machine, _ group: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.checkTransaction), sourceLocation: sourceLocation)
        #expect(machine.transactionChecked(isOpen: true) == Action(.runMember(in: group)), sourceLocation: sourceLocation)
    }

    // MARK: One writer

    @Test func aDurableWriterAloneCommitsThenSyncsItsOwnCommit() {
        var machine = Machine()
        begins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aWriterThatDidNotAskForTheDiskAloneReturnsAtItsCommit() {
        var machine = Machine()
        begins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult))
        #expect(machine.isIdle)
        // The next durable commit's sync covers it too.
        begins(&machine, "g2")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 2)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aWriterWhoseWorkFailedAloneStillCommitsAndReturnsItsOwnError() {
        var machine = Machine()
        begins(&machine, "g1")
        #expect(machine.memberFinished(.failed) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aFailedBeginReachesItsWriterAndFreesTheConnection() {
        var machine = Machine()
        #expect(machine.arrived() == Action(.begin))
        queues(&machine)
        #expect(machine.beginFailed(.busy) == Action(.fail(.busy), waking: Wakes(nextWriter: true)))
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.begin))
        #expect(machine.begun("g1") == Action(.runMember(in: "g1")))
    }

    // MARK: Groups

    @Test func writersQueuedBehindOneShareItsTransactionAndEachIsWokenOnceOnItsOwnCondition() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        queues(&machine)
        #expect(machine.queuedWriters == 3)
        // "a" and "b" hand the transaction on and wait: for the end if they asked for the disk,
        // for the commit if not.
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        // Woken before anything happened (a spurious wake-up): they wait again.
        #expect(machine.woken(in: "g1", durable: true) == Action(.waitForEnd("g1")))
        #expect(machine.woken(in: "g1", durable: false) == Action(.waitForCommit("g1")))
        // "d", the last, commits for all: "b" returns at once, the durable ones after the sync.
        joins(&machine, "g1")
        #expect(machine.queuedWriters == 0)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1), waking: Wakes(committed: "g1")))
        #expect(machine.woken(in: "g1", durable: false) == Action(.returnResult))
        #expect(machine.woken(in: "g1", durable: true) == Action(.waitForEnd("g1")), "the sync is not done")
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult, waking: Wakes(ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.returnResult))
        #expect(machine.woken(in: "g1", durable: true) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aGroupWithoutDurableMembersIsNotSynced() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult, waking: Wakes(committed: "g1")))
        #expect(machine.woken(in: "g1", durable: false) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aMemberWhoseWorkFailedReturnsItsOwnErrorAtOnceAndTheOthersCommit() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        // Its savepoint undid it alone: it neither waits nor is told about the group.
        #expect(machine.memberFinished(.failed) == Action(.returnResult, waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult, waking: Wakes(ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aGroupHasAtMostMaxMembers() {
        var machine = Machine(maxMembers: 2)
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        // A writer is still queued, but the group is full: its second member commits it.
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult, waking: Wakes(nextWriter: true, committed: "g1")))
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.begin), "the third writer begins a group of its own")
        #expect(machine.begun("g2") == Action(.runMember(in: "g2")))
        #expect(machine.woken(in: "g1", durable: false) == Action(.returnResult))
    }

    // MARK: Waiting for the turn

    @Test func aWriterThatWaitsTooLongIsToldBusyAndNeverRuns() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.waitForTurn), "woken while the connection is taken")
        #expect(machine.turnWaitEnded(timedOut: true) == Action(.fail(.busy)))
        #expect(machine.queuedWriters == 0)
        // Nobody queued: the group is not handed on.
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aWriterWhoseDeadlinePassedAsTheConnectionFreedTakesItsTurn() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        // The group was handed on to it: it must not give up now.
        #expect(machine.turnWaitEnded(timedOut: true) == Action(.checkTransaction))
        #expect(machine.transactionChecked(isOpen: true) == Action(.runMember(in: "g1")))
    }

    // MARK: Failures of the group

    @Test func aFailedCommitIsRolledBackAndReachesEveryMemberWhoseWorkSucceeded() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        queues(&machine)
        #expect(machine.commitFailed(diskFull) == Action(.rollback))
        #expect(machine.woken(in: "g1", durable: false) == Action(.waitForCommit("g1")), "not before the rollback")
        #expect(machine.rolledBack() == Action(
            .fail(diskFull), waking: Wakes(nextWriter: true, committed: "g1", ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.fail(diskFull)))
        #expect(machine.woken(in: "g1", durable: false) == Action(.fail(diskFull)))
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.begin), "the next writer begins afresh")
    }

    @Test func aCommitterWhoseWorkFailedGetsItsOwnErrorWhenTheCommitFails() {
        var machine = Machine()
        begins(&machine, "g1")
        #expect(machine.memberFinished(.failed) == Action(.commit))
        #expect(machine.commitFailed(diskFull) == Action(.rollback))
        #expect(machine.rolledBack() == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aTransactionFoundEndedWhenJoiningFailsItsMembersWithBusyAndAFreshOneBegins() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        // "c"'s statement error ended the whole transaction; it gets its own error.
        #expect(machine.memberFinished(.failed) == Action(.returnResult, waking: Wakes(nextWriter: true)))
        #expect(machine.turnWaitEnded(timedOut: false) == Action(.checkTransaction))
        #expect(machine.transactionChecked(isOpen: false) == Action(.begin, waking: Wakes(committed: "g1", ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.fail(.busy)))
        #expect(machine.woken(in: "g1", durable: false) == Action(.fail(.busy)))
        #expect(machine.begun("g2") == Action(.runMember(in: "g2")))
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1)), "the lost group was never committed")
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    // MARK: Who syncs

    @Test func aCommitterThatDidNotAskForTheDiskReturnsAtTheCommitAndADurableMemberSyncs() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        // One durable member is woken to sync; the committer does not wait for the disk.
        #expect(machine.commitSucceeded() == Action(.returnResult, waking: Wakes(syncer: "g1")))
        #expect(machine.woken(in: "g1", durable: true) == Action(.sync(through: 1)))
        // The other durable member, should it wake now, waits for that sync: one sync per group.
        #expect(machine.woken(in: "g1", durable: true) == Action(.waitForEnd("g1")))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult, waking: Wakes(ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aCommitterWhoseWorkFailedHandsTheSyncToADurableMember() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.failed) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult, waking: Wakes(syncer: "g1")))
        #expect(machine.woken(in: "g1", durable: true) == Action(.sync(through: 1)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func oneSyncCoversEveryGroupCommittedBeforeItBegan() {
        var machine = Machine()
        // g1's committer syncs, outside the turn.
        begins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1)))
        // Meanwhile g2 commits with a durable committer, which waits for the next sync ...
        begins(&machine, "g2")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.waitForEnd("g2")))
        // ... and g3 with a durable member, whose committer returns at once.
        begins(&machine, "g3")
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g3"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g3")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult))
        // g1's sync ends g1 only; the earliest group waiting runs the next sync.
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult, waking: Wakes(syncer: "g2")))
        // g4 commits before g2's committer wakes: the sync it will begin covers it too.
        begins(&machine, "g4")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.waitForEnd("g4")))
        #expect(machine.woken(in: "g3", durable: true) == Action(.waitForEnd("g3")))
        #expect(machine.woken(in: "g2", durable: true) == Action(.sync(through: 4)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult, waking: Wakes(ended: ["g3", "g4"])))
        #expect(machine.woken(in: "g3", durable: true) == Action(.returnResult))
        #expect(machine.woken(in: "g4", durable: true) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aFailedSyncReachesTheDurableMembersOfTheGroupsItCoveredOnly() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.waitForCommit("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.failed) == Action(.returnResult, waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.sync(through: 1), waking: Wakes(committed: "g1")))
        // The member that did not ask for the disk was answered at the commit.
        #expect(machine.woken(in: "g1", durable: false) == Action(.returnResult))
        // g2 commits while the sync runs: that sync does not cover it.
        begins(&machine, "g2")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.waitForEnd("g2")))
        #expect(machine.syncFinished(failure: ioError) == Action(.fail(ioError), waking: Wakes(ended: ["g1"], syncer: "g2")))
        #expect(machine.woken(in: "g1", durable: true) == Action(.fail(ioError)))
        #expect(machine.woken(in: "g2", durable: true) == Action(.sync(through: 2)))
        #expect(machine.syncFinished(failure: nil) == Action(.returnResult))
        #expect(machine.isIdle)
    }

    @Test func aFailedSyncRunByADelegateReachesItAndTheOtherDurableMembers() {
        var machine = Machine()
        begins(&machine, "g1")
        queues(&machine)
        queues(&machine)
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: true)) == Action(.waitForEnd("g1"), waking: Wakes(nextWriter: true)))
        joins(&machine, "g1")
        #expect(machine.memberFinished(.succeeded(durable: false)) == Action(.commit))
        #expect(machine.commitSucceeded() == Action(.returnResult, waking: Wakes(syncer: "g1")))
        #expect(machine.woken(in: "g1", durable: true) == Action(.sync(through: 1)))
        #expect(machine.syncFinished(failure: ioError) == Action(.fail(ioError), waking: Wakes(ended: ["g1"])))
        #expect(machine.woken(in: "g1", durable: true) == Action(.fail(ioError)))
        #expect(machine.isIdle)
    }
}
