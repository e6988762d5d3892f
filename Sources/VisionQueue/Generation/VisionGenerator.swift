/// Writes one category of a vision. The built-in generator works offline; `OpenAIGenerator`
/// asks a language model through any OpenAI-compatible chat-completions API.
public protocol VisionGenerator: Sendable {
    /// Writes the section, reporting the text so far to `progress` as it grows (a generator that
    /// writes all at once may never call it). Throws `GenerationError`, whose kind tells the
    /// processor whether to retry, wait, or fail the job. Must give up by `request.deadline`.
    func write(_ request: GenerationRequest, progress: GenerationProgress) throws(GenerationError) -> Generation
}

/// Receives a section's text while it is being written. Called on the writing thread; the
/// generator calls it as often as it likes, and the receiver decides what to keep.
public protocol GenerationProgress {
    func textSoFar(_ text: String)
    /// The provider asked to wait (429/503 with `Retry-After`) until `until`; the call is retried
    /// then without using up an attempt.
    func waiting(until: EpochMillis, reason: String)
    /// The work is no longer wanted (the job was cancelled, the claim taken over): the generator
    /// stops as soon as it can instead of paying for text nobody will store.
    var shouldStop: Bool { get }
}

/// A progress receiver that keeps nothing: for tools and tests.
public struct IgnoredProgress: GenerationProgress {
    public init() {}
    public func textSoFar(_ text: String) {}
    public func waiting(until: EpochMillis, reason: String) {}
    public var shouldStop: Bool { false }
}

public struct GenerationRequest: Sendable, Equatable {
    public var jobID: JobID
    /// Whose vision this is; providers get a hash of it (OpenAI's `user`), never the id itself.
    public var userID: String
    public var category: VisionCategory
    /// The user's notes for this category, possibly empty.
    public var notes: String
    /// The user's notes for every category of the job: context for generators that keep the
    /// whole vision consistent.
    public var allNotes: [VisionCategory: String]
    public var attempt: Int
    /// Attempts ever made at this category of this job, across user retries: with the job and
    /// category, names the attempt uniquely (the model call's idempotency key).
    public var totalAttempts: Int
    public var deadline: EpochMillis

    public init(
        jobID: JobID = JobID("00000000-0000-7000-8000-000000000000")!, userID: String = "",
        category: VisionCategory, notes: String, allNotes: [VisionCategory: String] = [:], attempt: Int = 1,
        totalAttempts: Int? = nil, deadline: EpochMillis
    ) {
        self.jobID = jobID
        self.userID = userID
        self.totalAttempts = totalAttempts ?? attempt
        self.category = category
        self.notes = notes
        self.allNotes = allNotes
        self.attempt = attempt
        self.deadline = deadline
    }
}
