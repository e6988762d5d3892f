import Glibc

/// At most `count` model calls in flight across every process that shares `directory` (in the
/// data folder, `VQ_DATA_DIR`, which every process of one installation writes to): `VQ_LLM_MAX_CONCURRENT`, which protects the provider when, say, a
/// restart finds hundreds of jobs due at once.
///
/// Each slot is a file held with `flock`: the kernel releases it when its holder exits however it
/// exits (a `kill -9` mid-call included), so a crash never leaks a slot and nothing needs a sweep.
final class ModelCallSlots: @unchecked Sendable {
    let count: Int
    private let directory: String

    init(count: Int, directory: String) {
        self.count = max(1, count)
        self.directory = directory
        mkdir(directory, 0o700)  // an existing folder is fine; one that cannot be made is told at the first call
    }

    /// A held slot; `release` (or the process's exit) gives it back.
    struct Slot {
        fileprivate let fd: Int32

        func release() {
            flock(fd, LOCK_UN)
            close(fd)
        }
    }

    /// The slot files cannot be opened (a missing folder, permissions, no descriptors left).
    struct Unavailable: Error {
        var reason: String
    }

    /// Takes a free slot, waiting (polling every 50-150 ms, so waiters do not move in step) while
    /// all are held. nil once `deadline` passes without one, or as soon as `unless` holds.
    func acquire(until deadline: EpochMillis, unless stop: () -> Bool = { false }) throws(Unavailable) -> Slot? {
        // Start at a random slot so callers spread over the files instead of all trying slot 0.
        var start = Int.random(in: 0..<count)
        while true {
            for offset in 0..<count {
                let index = (start + offset) % count
                let path = "\(directory)/model-call-\(index).lock"
                let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw Unavailable(reason: "cannot open \(path): errno \(errno)") }
                if flock(fd, LOCK_EX | LOCK_NB) == 0 { return Slot(fd: fd) }
                close(fd)
            }
            guard Clock.now() < deadline, !stop() else { return nil }
            usleep(useconds_t(Int.random(in: 50_000...150_000)))
            start = Int.random(in: 0..<count)
        }
    }
}
