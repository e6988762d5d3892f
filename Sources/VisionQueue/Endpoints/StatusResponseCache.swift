/// The last status response of each job this worker thread served, kept while the job's version
/// is unchanged. A page polls every 5 s and a category takes seconds to minutes, so most polls
/// find the job as it was: they then cost one indexed read of the version instead of reading 13
/// rows and writing 2.5 KB of JSON. One per worker thread: no locking.
final class StatusResponseCache {
    struct Entry {
        var job: Job
        var body: [UInt8]
    }

    private var entries: [JobID: Entry] = [:]
    private let capacity: Int

    /// Jobs polled through one worker thread at a time; about 2.5 KB each.
    init(capacity: Int = 512) { self.capacity = capacity }

    /// The cached response, if it is for this user and still at `version`.
    func response(for id: JobID, userID: String, version: Int64) -> Entry? {
        guard let entry = entries[id], entry.job.version == version, entry.job.userID == userID else { return nil }
        return entry
    }

    func store(_ job: Job, body: [UInt8]) {
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[job.id] = Entry(job: job, body: body)
    }
}
