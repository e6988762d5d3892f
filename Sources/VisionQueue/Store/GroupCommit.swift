import Glibc

/// Lets the writers of one process share a transaction and its sync to disk ("group commit",
/// as PostgreSQL and InnoDB do it).
///
/// Each category step writes twice (its claim, then its result), and SQLite has one write lock
/// for the whole file: with every writer committing alone, the lock was held for about 0.6 ms
/// per step (bench/, figure 3), which capped a machine near 1,600 steps/s however many cores it
/// had. Here a writer that finds others queued behind it leaves its transaction open and hands
/// it to the next one; the last of the group commits for all, and everyone returns only once
/// that commit is done (and a writer that asked for it, once it is on disk). The sync to disk
/// happens after the turn is passed on, and one sync covers every group committed before it
/// began. A member's own failure is rolled back to its savepoint and reaches only that member.
///
/// One group is open at a time; whoever runs holds the process's write connection alone.
final class GroupCommit: @unchecked Sendable {
    /// One shared transaction.
    ///
    /// Its members wait on conditions of its own, each woken once: a member that asked for the
    /// disk is not woken at the commit only to sleep again until the sync, nor by other groups.
    private final class Group {
        var members = 0
        var durable = false
        /// The commit is done or failed: members that did not ask for the disk may return.
        var committed = false
        /// The sync is done or failed too: every member may return.
        var ended = false
        var commitFailure: StoreError?
        var syncFailure: StoreError?
        let committedSignal = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        let endedSignal = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            pthread_cond_init(committedSignal, nil)
            pthread_cond_init(endedSignal, nil)
        }

        deinit {
            pthread_cond_destroy(committedSignal)
            pthread_cond_destroy(endedSignal)
            committedSignal.deallocate()
            endedSignal.deallocate()
        }

        func outcome(forDurable durable: Bool) -> StoreError? { durable ? commitFailure ?? syncFailure : commitFailure }

        /// With the mutex held.
        func markCommitted(failure: StoreError?, ending: Bool) {
            commitFailure = failure
            committed = true
            pthread_cond_broadcast(committedSignal)
            if ending { markEnded(syncFailure: nil) }
        }

        /// With the mutex held.
        func markEnded(syncFailure: StoreError?) {
            self.syncFailure = syncFailure
            ended = true
            pthread_cond_broadcast(endedSignal)
        }

        /// With the mutex held: waits until a member asking for the disk (or not) may return.
        func wait(durable: Bool, _ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
            if durable {
                while !ended { pthread_cond_wait(endedSignal, mutex) }
            } else {
                while !committed { pthread_cond_wait(committedSignal, mutex) }
            }
        }
    }

    /// Most members per group: bounds how long the first one waits for the group's commit.
    let maxMembers: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when the connection is free for the next writer.
    private let turn = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// A writer is running (a member's work, or a group's begin or commit).
    private var running = false
    /// Writers waiting for their turn.
    private var queued = 0
    /// The group whose transaction is open and whose members wait for the next writer to end it.
    private var open: Group?
    /// Groups committed so far, and how many of them are known to be on disk.
    private var committed = 0
    private var synced = 0
    /// Held while syncing: one sync at a time, and `synced` with it.
    private let syncMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(maxMembers: Int = 16) {
        self.maxMembers = maxMembers
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(syncMutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(turn, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(turn)
        pthread_mutex_destroy(mutex)
        pthread_mutex_destroy(syncMutex)
        syncMutex.deallocate()
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
    ///     committed, outside the turn, one call at a time.
    func run<T>(
        durable: Bool, waitingAtMost millis: Int,
        isOpen: () -> Bool,
        begin: () throws(StoreError) -> Void,
        member: () throws(StoreError) -> T,
        commit: () throws(StoreError) -> Void,
        rollback: () -> Void,
        sync: () throws(StoreError) -> Void
    ) throws(StoreError) -> T {
        pthread_mutex_lock(mutex)
        guard waitForTurn(millis) else {
            pthread_mutex_unlock(mutex)
            throw .busy
        }
        var joined = open
        open = nil
        if let lost = joined, !isOpen() {
            lost.markCommitted(failure: .busy, ending: true)
            joined = nil
        }
        pthread_mutex_unlock(mutex)

        let group: Group
        if let joined {
            group = joined
        } else {
            do throws(StoreError) {
                try begin()
            } catch {
                pthread_mutex_lock(mutex)
                passTurn()
                pthread_mutex_unlock(mutex)
                throw error
            }
            group = Group()
        }
        let result: Result<T, StoreError>
        do throws(StoreError) {
            result = .success(try member())
        } catch {
            result = .failure(error)
        }

        pthread_mutex_lock(mutex)
        group.members += 1
        if durable, case .success = result { group.durable = true }
        if queued > 0 && group.members < maxMembers {
            // Someone is waiting: they end the group (or hand it on in turn).
            open = group
            passTurn()
            guard case .success = result else {
                pthread_mutex_unlock(mutex)
                return try result.get()
            }
            group.wait(durable: durable, mutex)
            let failure = group.outcome(forDurable: durable)
            pthread_mutex_unlock(mutex)
            if let failure { throw failure }
            return try result.get()
        }
        pthread_mutex_unlock(mutex)

        var failure: StoreError?
        do throws(StoreError) {
            try commit()
        } catch {
            rollback()
            failure = error
        }
        pthread_mutex_lock(mutex)
        if failure == nil { committed += 1 }
        let number = committed
        let syncing = failure == nil && group.durable
        group.markCommitted(failure: failure, ending: !syncing)
        // The disk is waited for outside the turn: the next group writes meanwhile.
        passTurn()
        pthread_mutex_unlock(mutex)
        if syncing {
            let syncFailure = syncThrough(number, sync)
            pthread_mutex_lock(mutex)
            group.markEnded(syncFailure: syncFailure)
            pthread_mutex_unlock(mutex)
        }
        if case .success = result, let failure = group.outcome(forDurable: durable) { throw failure }
        return try result.get()
    }

    /// Writers waiting for their turn (for tests that need a group to form).
    var queuedWriters: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return queued
    }

    /// Makes groups up to `number` durable, with one sync for all the groups committed by then:
    /// a group whose commit an earlier sync already covered does not wait for the disk again.
    private func syncThrough(_ number: Int, _ sync: () throws(StoreError) -> Void) -> StoreError? {
        pthread_mutex_lock(syncMutex)
        defer { pthread_mutex_unlock(syncMutex) }
        if synced >= number { return nil }
        pthread_mutex_lock(mutex)
        let target = committed
        pthread_mutex_unlock(mutex)
        do throws(StoreError) {
            try sync()
        } catch {
            return error
        }
        synced = target
        return nil
    }

    /// With the mutex held: waits until no writer runs, then marks this one running. A writer
    /// that gives up never ran, so a group handed on always finds a successor: it was handed on
    /// only while someone queued, and a queued writer gives up only while another one runs.
    private func waitForTurn(_ millis: Int) -> Bool {
        if running {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = Int(deadline.tv_nsec) + (millis % 1000) * 1_000_000
            deadline.tv_sec += millis / 1000 + nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
            queued += 1
            defer { queued -= 1 }
            while running {
                if pthread_cond_timedwait(turn, mutex, &deadline) == ETIMEDOUT && running { return false }
            }
        }
        running = true
        return true
    }

    /// With the mutex held: lets the next writer run.
    private func passTurn() {
        running = false
        pthread_cond_signal(turn)
    }
}
