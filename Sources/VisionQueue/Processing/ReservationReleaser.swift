import Synchronization

/// Gives back the reservation of a trigger that will never be sent (`SelfTrigger`'s
/// `onAbandoned`), uncounted, so its category is claimed by the sweep at once instead of after the
/// reservation lapses and counts as an attempt. Called from the dispatcher thread and, for
/// fault-injected drops, from workers: one store, opened on first use, behind a lock.
final class ReservationReleaser: Sendable {
    private let store = Mutex<JobStore?>(nil)
    private let book: ReservationBook
    private let makeStore: @Sendable () throws -> JobStore
    private let log: Logger

    init(book: ReservationBook, log: Logger, makeStore: @escaping @Sendable () throws -> JobStore) {
        self.book = book
        self.log = log
        self.makeStore = makeStore
    }

    func release(_ jobID: JobID, _ token: String) {
        book.remove(token)
        store.withLock { store in
            do {
                if store == nil { store = try makeStore() }
                _ = try store!.releaseReservation(of: jobID, token: token, now: Clock.now())
            } catch {
                store = nil
                log.about(job: jobID).warning("could not give back the reservation of job \(jobID): \(error); it lapses by itself")
            }
        }
    }
}
