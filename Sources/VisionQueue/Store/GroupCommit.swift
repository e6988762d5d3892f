import Glibc

/// Lets the writers of one process share a transaction and its sync to disk ("group commit",
/// as PostgreSQL and InnoDB do it).
///
/// Each category step writes twice (its claim, then its result), and SQLite has one write lock
/// for the whole file: with every writer committing alone, the time the lock is held per step
/// caps the steps a machine can run, however many cores it has. Here a writer that finds others queued behind it leaves its transaction open and hands
/// it to the next one; the last of the group commits for all, and everyone returns only once
/// that commit is done (and a writer that asked for it, once it is on disk). The sync to disk
/// happens after the turn is passed on, run by a writer of the group that asked for it, and one
/// sync covers every group committed before it began. A member's own failure is rolled back to
/// its savepoint and reaches only that member.
///
/// The rules live in `GroupCommitStateMachine`; this class holds the mutex and the condition
/// variables, and performs what the machine decides. One group is open at a time; whoever runs
/// holds the process's write connection alone.
final class GroupCommit: @unchecked Sendable {
    /// The conditions the members of one shared transaction wait on: those that did not ask for
    /// the disk apart from the others, so that each is woken once, at the commit or at the end,
    /// and never by other groups.
    private final class Group: Equatable {
        let committed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        let ended = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            pthread_cond_init(committed, nil)
            pthread_cond_init(ended, nil)
        }

        deinit {
            pthread_cond_destroy(committed)
            pthread_cond_destroy(ended)
            committed.deallocate()
            ended.deallocate()
        }

        static func == (lhs: Group, rhs: Group) -> Bool { lhs === rhs }
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when the connection is free for the next writer.
    private let turn = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// With the mutex held.
    private var machine: GroupCommitStateMachine<Group>

    /// - Parameter maxMembers: most members per group: bounds how long the first one waits for
    ///   the group's commit.
    init(maxMembers: Int = 16) {
        machine = GroupCommitStateMachine(maxMembers: maxMembers)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(turn, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(turn)
        pthread_mutex_destroy(mutex)
        turn.deallocate()
        mutex.deallocate()
    }

    /// Runs one writer's work in a group transaction; returns once the group's commit is done,
    /// and for a `durable` writer once it is on disk too. Throws `.busy` if the connection stayed
    /// taken for `waitingAtMost` milliseconds, or if another member's failure ended the whole
    /// transaction (this writer's work was undone with it and may simply be tried again).
    /// - Parameters:
    ///   - isOpen: whether the group's transaction is still open. A statement error that ends the
    ///     whole transaction (SQLite does so on a full disk or an I/O error) ends its group.
    ///   - begin: begins the transaction a new group writes in.
    ///   - member: this writer's work, run in the open transaction; undoes itself alone if it throws.
    ///   - commit: commits the group's transaction.
    ///   - rollback: abandons the group's transaction after its commit failed.
    ///   - sync: makes every commit so far durable; called after a group with a durable member
    ///     committed, outside the turn, one call at a time, by one of the group's durable writers
    ///     (not necessarily the committer, so every writer's `sync` must do the same).
    func run<T>(
        durable: Bool, waitingAtMost millis: Int,
        isOpen: () -> Bool,
        begin: () throws(StoreError) -> Void,
        member: () throws(StoreError) -> T,
        commit: () throws(StoreError) -> Void,
        rollback: () -> Void,
        sync: () throws(StoreError) -> Void
    ) throws(StoreError) -> T {
        var result: Result<T, StoreError>?
        var deadline = timespec()
        var hasDeadline = false
        pthread_mutex_lock(mutex)
        var action = machine.arrived()
        while true {
            wake(action.wake)
            switch action.next {
            case .waitForTurn:
                if !hasDeadline {
                    deadline = Self.deadline(afterMillis: millis)
                    hasDeadline = true
                }
                let timedOut = pthread_cond_timedwait(turn, mutex, &deadline) == ETIMEDOUT
                action = machine.turnWaitEnded(timedOut: timedOut)
            case .checkTransaction:
                action = machine.transactionChecked(isOpen: isOpen())
            case .begin:
                pthread_mutex_unlock(mutex)
                do throws(StoreError) {
                    try begin()
                    let group = Group()
                    pthread_mutex_lock(mutex)
                    action = machine.begun(group)
                } catch {
                    pthread_mutex_lock(mutex)
                    action = machine.beginFailed(error)
                }
            case .runMember:
                pthread_mutex_unlock(mutex)
                let work: GroupCommitStateMachine<Group>.Work
                do throws(StoreError) {
                    result = .success(try member())
                    work = .succeeded(durable: durable)
                } catch {
                    result = .failure(error)
                    work = .failed
                }
                pthread_mutex_lock(mutex)
                action = machine.memberFinished(work)
            case .commit:
                pthread_mutex_unlock(mutex)
                do throws(StoreError) {
                    try commit()
                    pthread_mutex_lock(mutex)
                    action = machine.commitSucceeded()
                } catch {
                    pthread_mutex_lock(mutex)
                    action = machine.commitFailed(error)
                }
            case .rollback:
                pthread_mutex_unlock(mutex)
                rollback()
                pthread_mutex_lock(mutex)
                action = machine.rolledBack()
            case .waitForCommit(let group):
                pthread_cond_wait(group.committed, mutex)
                action = machine.woken(in: group, durable: false)
            case .waitForEnd(let group):
                pthread_cond_wait(group.ended, mutex)
                action = machine.woken(in: group, durable: true)
            case .sync:
                pthread_mutex_unlock(mutex)
                var failure: StoreError?
                do throws(StoreError) {
                    try sync()
                } catch {
                    failure = error
                }
                pthread_mutex_lock(mutex)
                action = machine.syncFinished(failure: failure)
            case .returnResult:
                pthread_mutex_unlock(mutex)
                guard let result else { preconditionFailure("a writer returning before its work ran") }
                return try result.get()
            case .fail(let error):
                pthread_mutex_unlock(mutex)
                throw error
            }
        }
    }

    /// Writers waiting for their turn (for tests that need a group to form).
    var queuedWriters: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return machine.queuedWriters
    }

    /// With the mutex held.
    private func wake(_ wakes: GroupCommitStateMachine<Group>.Wakes) {
        if wakes.nextWriter { pthread_cond_signal(turn) }
        if let group = wakes.committed { pthread_cond_broadcast(group.committed) }
        for group in wakes.ended { pthread_cond_broadcast(group.ended) }
        if let group = wakes.syncer { pthread_cond_signal(group.ended) }
    }

    /// `millis` from now on the monotonic clock `turn` waits by.
    private static func deadline(afterMillis millis: Int) -> timespec {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + (millis % 1000) * 1_000_000
        deadline.tv_sec += millis / 1000 + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return deadline
    }
}
