/// The self-trigger dispatcher's queue: triggers due now in arrival order, later ones ordered by
/// when they are due. Taking the next due trigger and asking when the next one falls due are
/// O(log n), so thousands of waiting triggers cost nothing per wake-up.
struct TriggerSchedule {
    struct Entry: Equatable {
        var jobID: JobID
        var notBefore: EpochMillis
        /// Failed sends so far.
        var tries: Int
        /// The reserved category's token, sent along (`TriggerSink`).
        var reservation: String? = nil
    }

    private var ready: [Entry] = []
    private var readyHead = 0
    /// A binary min-heap on `notBefore`.
    private var delayed: [Entry] = []

    var count: Int { ready.count - readyHead + delayed.count }
    var isEmpty: Bool { count == 0 }

    mutating func add(_ entry: Entry, now: EpochMillis) {
        if entry.notBefore <= now {
            ready.append(entry)
        } else {
            delayed.append(entry)
            siftUp(delayed.count - 1)
        }
    }

    /// The next trigger that may be sent at `now`, oldest first.
    mutating func next(now: EpochMillis) -> Entry? {
        while let first = delayed.first, first.notBefore <= now {
            ready.append(popDelayed())
        }
        guard readyHead < ready.count else { return nil }
        let entry = ready[readyHead]
        readyHead += 1
        if readyHead > 1024 && readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
        return entry
    }

    /// Whether a trigger may be sent at `now`.
    func hasDue(now: EpochMillis) -> Bool {
        readyHead < ready.count || (delayed.first.map { $0.notBefore <= now } ?? false)
    }

    /// When the earliest delayed trigger falls due.
    var nextDueTime: EpochMillis? { readyHead < ready.count ? nil : delayed.first?.notBefore }

    private mutating func popDelayed() -> Entry {
        let top = delayed[0]
        let last = delayed.removeLast()
        if !delayed.isEmpty {
            delayed[0] = last
            siftDown(0)
        }
        return top
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard delayed[child].notBefore < delayed[parent].notBefore else { return }
            delayed.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < delayed.count && delayed[left].notBefore < delayed[smallest].notBefore { smallest = left }
            if right < delayed.count && delayed[right].notBefore < delayed[smallest].notBefore { smallest = right }
            guard smallest != parent else { return }
            delayed.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
