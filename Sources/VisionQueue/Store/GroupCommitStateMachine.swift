/// The decisions of `GroupCommit`, apart from its threads and its database: who begins, joins,
/// commits or syncs a shared transaction, when each writer may return, and whom to wake.
///
/// Fed one event at a time, with `GroupCommit`'s mutex held (a writer arrived, its work finished,
/// a commit or a sync finished, a wait ended), it answers with an `Action`: the waiting writers
/// to wake, then what the writer that reported the event does next. `GroupCommit` only performs
/// the actions, so every rule below can be tested here without threads:
///
/// - One writer runs at a time (it holds the process's write connection) and one group is open at
///   a time. A writer whose work finished while others are queued hands the open transaction on
///   and waits; the last one, or the `maxMembers`-th, commits for the group.
/// - A member whose own work failed returns its error at once: its savepoint undid it alone.
///   A failed commit, or a transaction the next writer finds ended (SQLite ends it on a full
///   disk), reaches every member whose own work succeeded; a failed sync reaches the durable
///   members of every group it was to cover, and only them.
/// - Members that did not ask for the disk return at the commit; durable members once a sync
///   covering it is done. The sync runs outside the turn, one at a time, and covers every group
///   committed before it began: groups committed meanwhile wait, and the next sync serves them
///   all. It is run by a durable writer of the group: the committer if it asked for the disk,
///   otherwise one durable member woken at the commit, so that a committer that did not ask for
///   the disk (a claim) returns at its commit like any other such member.
/// - Each group's members wait on conditions of the group's own, the ones that did not ask for
///   the disk apart from the others, so that each is woken once: at the commit, or at the end.
///
/// `Group` is how the caller tells groups apart and reaches their waiting members (for
/// `GroupCommit`, a group's condition variables): the machine only compares it and hands it back.
struct GroupCommitStateMachine<Group: Equatable> {
    /// How a member's work went.
    enum Work: Equatable {
        case succeeded(durable: Bool)
        /// Undone alone (its savepoint): the member returns its own error.
        case failed
    }

    /// What the writer that reported an event does next.
    enum Next: Equatable {
        /// Wait (until its deadline) for the connection, then report `turnWaitEnded`.
        case waitForTurn
        /// Report whether the transaction handed on is still open (`transactionChecked`): a
        /// statement error can end the whole transaction (SQLite does on a full disk).
        case checkTransaction
        /// Begin the transaction of a new group, then report `begun` or `beginFailed`.
        case begin
        /// Run its work in the group's transaction, then report `memberFinished`.
        case runMember(in: Group)
        /// Commit the group, then report `commitSucceeded` or `commitFailed`.
        case commit
        /// Abandon the group's transaction after its commit failed, then report `rolledBack`.
        case rollback
        /// Wait for the group's commit, then report `woken` (a member that did not ask for the disk).
        case waitForCommit(Group)
        /// Wait for the group's end (its commit and the sync covering it), then report `woken`.
        case waitForEnd(Group)
        /// Sync every commit so far (the first `through` commits at least), outside the turn,
        /// then report `syncFinished`.
        case sync(through: Int)
        /// Return its own work's value or error.
        case returnResult
        /// Throw this instead: it timed out in the queue, or its group's commit or sync failed.
        case fail(StoreError)
    }

    /// Waiting writers to wake, with the mutex held, before the next step.
    struct Wakes: Equatable {
        /// One queued writer: the connection is free.
        var nextWriter = false
        /// Every member of this group waiting for its commit.
        var committed: Group? = nil
        /// Every member of these groups waiting for their end.
        var ended: [Group] = []
        /// One member of this group waiting for its end, which is to sync for the group.
        var syncer: Group? = nil
    }

    struct Action: Equatable {
        var wake: Wakes
        var next: Next

        init(_ next: Next, waking wake: Wakes = Wakes()) {
            self.next = next
            self.wake = wake
        }
    }

    /// Where a group stands.
    private enum Stage: Equatable {
        /// Its transaction is open: members write in it, or wait for the next writer to end it.
        case writing
        /// Its last member commits it.
        case committing(by: Work)
        /// Its commit failed and its last member abandons the transaction.
        case rollingBack(StoreError, by: Work)
        /// Committed as the `commit`-th commit, waiting for a sync: another one is running.
        case awaitingSync(commit: Int)
        /// Committed; one durable member was woken to sync for it.
        case syncHanded(commit: Int)
        /// Committed, and the sync covering it is running.
        case syncing(commit: Int)
        /// Committed and, if anyone asked for the disk, synced (or its sync failed).
        case ended(syncFailure: StoreError?)
        /// Nobody's work in it was kept: its commit failed, or its transaction was found ended.
        case failed(StoreError)

        /// Its commit's number, while it waits for the disk.
        var commitAwaitingDisk: Int? {
            switch self {
            case .awaitingSync(let commit), .syncHanded(let commit), .syncing(let commit): commit
            default: nil
            }
        }
    }

    /// One shared transaction, until its last member returned.
    private struct Record {
        let group: Group
        var stage = Stage.writing
        /// Members whose work ran in it.
        var members = 0
        /// Members waiting for its commit, and for its end.
        var waitingForCommit = 0
        var waitingForEnd = 0

        init(_ group: Group) { self.group = group }

        /// Nothing will happen to it any more and nobody waits on it.
        var isSettled: Bool {
            guard waitingForCommit == 0 && waitingForEnd == 0 else { return false }
            switch stage {
            case .ended, .failed: return true
            default: return false
            }
        }
    }

    private enum Sync: Equatable {
        case idle
        /// A durable member of a group was woken to run the next sync.
        case handed
        /// Covering the first `through` commits.
        case running(through: Int)
    }

    /// Most members per group: bounds how long the first one waits for the group's commit.
    let maxMembers: Int
    /// Writers waiting for their turn.
    private(set) var queuedWriters = 0
    /// A writer holds the connection (running a member's work, or a group's begin or commit).
    private var running = false
    /// The group whose transaction is open: the running writer's, or, while nobody runs, handed
    /// on to the next writer.
    private var open: Record?
    /// Groups whose transaction ended (committed or not) and whose members have not all returned.
    private var closed: [Record] = []
    /// Commits so far.
    private var commits = 0
    private var sync = Sync.idle

    init(maxMembers: Int = 16) {
        precondition(maxMembers > 0)
        self.maxMembers = maxMembers
    }

    /// Nobody runs, waits or syncs, and no group is left (for tests).
    var isIdle: Bool { !running && queuedWriters == 0 && open == nil && closed.isEmpty && sync == .idle }

    // MARK: Taking the turn

    /// A writer wants the connection.
    mutating func arrived() -> Action {
        if running {
            queuedWriters += 1
            return Action(.waitForTurn)
        }
        return takeTurn()
    }

    /// A writer waiting for its turn was woken, or its deadline passed. A writer that gives up
    /// never ran, so a group handed on always finds a successor: it was handed on only while
    /// someone queued, and a queued writer gives up only while another one runs.
    mutating func turnWaitEnded(timedOut: Bool) -> Action {
        if !running {
            queuedWriters -= 1
            return takeTurn()
        }
        if timedOut {
            queuedWriters -= 1
            return Action(.fail(.busy))
        }
        return Action(.waitForTurn)
    }

    private mutating func takeTurn() -> Action {
        running = true
        return Action(open == nil ? .begin : .checkTransaction)
    }

    /// The running writer found the transaction handed on to it still open, or ended: then the
    /// work of every member in it went with it, and they are told to try again, as on a busy
    /// database, while this writer begins a fresh one.
    mutating func transactionChecked(isOpen: Bool) -> Action {
        guard var record = open, running, record.stage == .writing else { preconditionFailure("no transaction handed on") }
        if isOpen { return Action(.runMember(in: record.group)) }
        open = nil
        record.stage = .failed(.busy)
        let wake = Wakes(
            committed: record.waitingForCommit > 0 ? record.group : nil,
            ended: record.waitingForEnd > 0 ? [record.group] : [])
        retire(record)
        return Action(.begin, waking: wake)
    }

    mutating func begun(_ group: Group) -> Action {
        precondition(running && open == nil, "no writer beginning")
        open = Record(group)
        return Action(.runMember(in: group))
    }

    mutating func beginFailed(_ error: StoreError) -> Action {
        precondition(running && open == nil, "no writer beginning")
        running = false
        return Action(.fail(error), waking: Wakes(nextWriter: queuedWriters > 0))
    }

    // MARK: Members

    /// The running writer's work finished in the open group: with writers queued, it hands the
    /// group on to them (and waits, unless its work failed); otherwise it commits.
    mutating func memberFinished(_ work: Work) -> Action {
        guard var record = open, running, record.stage == .writing else { preconditionFailure("no member running") }
        record.members += 1
        guard queuedWriters > 0 && record.members < maxMembers else {
            record.stage = .committing(by: work)
            open = record
            return Action(.commit)
        }
        running = false
        let next: Next
        switch work {
        case .failed:
            next = .returnResult
        case .succeeded(durable: true):
            record.waitingForEnd += 1
            next = .waitForEnd(record.group)
        case .succeeded(durable: false):
            record.waitingForCommit += 1
            next = .waitForCommit(record.group)
        }
        open = record
        return Action(next, waking: Wakes(nextWriter: true))
    }

    /// A member waiting on its group's conditions woke up (`durable`: it waited for the end).
    mutating func woken(in group: Group, durable: Bool) -> Action {
        let waitAgain = Action(durable ? .waitForEnd(group) : .waitForCommit(group))
        guard let index = closed.firstIndex(where: { $0.group == group }) else {
            precondition(open?.group == group, "woken in an unknown group")
            return waitAgain
        }
        switch closed[index].stage {
        case .failed(let error):
            leave(index, durable: durable)
            return Action(.fail(error))
        case .ended(let failure) where durable:
            leave(index, durable: durable)
            return Action(failure.map { .fail($0) } ?? .returnResult)
        case .syncHanded(let commit) where durable:
            closed[index].stage = .syncing(commit: commit)
            closed[index].waitingForEnd -= 1
            sync = .running(through: commits)
            return Action(.sync(through: commits))
        case _ where durable:
            return waitAgain
        default:
            // Committed: the disk is not this member's concern.
            leave(index, durable: durable)
            return Action(.returnResult)
        }
    }

    // MARK: Commit and sync

    /// The group's commit is done: the members that did not ask for the disk return, and the
    /// durable ones once a sync covers it. That sync is run by the committer if it asked for the
    /// disk, otherwise by one durable member woken now; if another sync is running, by one of
    /// the group's durable writers once it is over.
    mutating func commitSucceeded() -> Action {
        guard var record = open, running, case .committing(let work) = record.stage else { preconditionFailure("no commit running") }
        open = nil
        running = false
        commits += 1
        var wake = Wakes(nextWriter: queuedWriters > 0, committed: record.waitingForCommit > 0 ? record.group : nil)
        let next: Next
        if work == .succeeded(durable: true) {
            if sync == .idle {
                record.stage = .syncing(commit: commits)
                sync = .running(through: commits)
                next = .sync(through: commits)
            } else {
                record.stage = .awaitingSync(commit: commits)
                record.waitingForEnd += 1
                next = .waitForEnd(record.group)
            }
        } else {
            if record.waitingForEnd == 0 {
                record.stage = .ended(syncFailure: nil)
            } else if sync == .idle {
                record.stage = .syncHanded(commit: commits)
                sync = .handed
                wake.syncer = record.group
            } else {
                record.stage = .awaitingSync(commit: commits)
            }
            next = .returnResult
        }
        retire(record)
        return Action(next, waking: wake)
    }

    mutating func commitFailed(_ error: StoreError) -> Action {
        guard running, case .committing(let work) = open?.stage else { preconditionFailure("no commit running") }
        open?.stage = .rollingBack(error, by: work)
        return Action(.rollback)
    }

    /// The group's transaction is abandoned: its commit's error reaches every member whose own
    /// work succeeded.
    mutating func rolledBack() -> Action {
        guard var record = open, running, case .rollingBack(let error, let work) = record.stage else {
            preconditionFailure("no rollback running")
        }
        open = nil
        running = false
        record.stage = .failed(error)
        let wake = Wakes(
            nextWriter: queuedWriters > 0,
            committed: record.waitingForCommit > 0 ? record.group : nil,
            ended: record.waitingForEnd > 0 ? [record.group] : [])
        retire(record)
        return Action(work == .failed ? .returnResult : .fail(error), waking: wake)
    }

    /// The running sync is over: every group it covers ends (with its failure, if it failed), and
    /// the earliest group committed since it began, if any, gets the next one.
    mutating func syncFinished(failure: StoreError?) -> Action {
        guard case .running(let target) = sync else { preconditionFailure("no sync running") }
        sync = .idle
        var wake = Wakes()
        var index = 0
        while index < closed.count {
            if let commit = closed[index].stage.commitAwaitingDisk, commit <= target {
                closed[index].stage = .ended(syncFailure: failure)
                if closed[index].waitingForEnd > 0 { wake.ended.append(closed[index].group) }
                if closed[index].isSettled {
                    closed.remove(at: index)
                    continue
                }
            }
            index += 1
        }
        if let index = closed.firstIndex(where: { $0.stage.commitAwaitingDisk != nil }),
           case .awaitingSync(let commit) = closed[index].stage {
            closed[index].stage = .syncHanded(commit: commit)
            sync = .handed
            wake.syncer = closed[index].group
        }
        return Action(failure.map { .fail($0) } ?? .returnResult, waking: wake)
    }

    // MARK: Groups

    /// Keeps a group whose transaction ended until its members returned.
    private mutating func retire(_ record: Record) {
        if !record.isSettled { closed.append(record) }
    }

    private mutating func leave(_ index: Int, durable: Bool) {
        if durable { closed[index].waitingForEnd -= 1 } else { closed[index].waitingForCommit -= 1 }
        if closed[index].isSettled { closed.remove(at: index) }
    }
}
