import Glibc

/// A plain mutex for the few structures threads share (trigger queue, lease registry, token
/// cache). Foundation's NSLock would do, but the worker binaries do not load Foundation.
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }

    /// Waits at most `millis` for the lock; false when it stayed taken.
    public func lock(waitingAtMost millis: Int) -> Bool {
        if pthread_mutex_trylock(mutex) == 0 { return true }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + (millis % 1000) * 1_000_000
        deadline.tv_sec += millis / 1000 + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_mutex_timedlock(mutex, &deadline) == 0
    }

    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
