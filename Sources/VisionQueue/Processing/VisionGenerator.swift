/// Writes one category of a vision. The built-in generator works offline; an LLM-backed one
/// implements the same protocol.
public protocol VisionGenerator: Sendable {
    /// Returns the section text, or throws `GenerationError`. Must give up by `request.deadline`.
    func write(_ request: GenerationRequest) throws(GenerationError) -> String
}

public struct GenerationRequest: Sendable, Equatable {
    public var category: VisionCategory
    /// The user's notes for this category, possibly empty.
    public var notes: String
    /// The user's notes for every category of the job: context for generators that keep the
    /// whole vision consistent.
    public var allNotes: [VisionCategory: String]
    public var attempt: Int
    /// Attempts ever made at this category of this job, across user retries.
    public var totalAttempts: Int
    public var deadline: EpochMillis

    public init(
        category: VisionCategory, notes: String, allNotes: [VisionCategory: String] = [:], attempt: Int = 1,
        totalAttempts: Int? = nil, deadline: EpochMillis
    ) {
        self.totalAttempts = totalAttempts ?? attempt
        self.category = category
        self.notes = notes
        self.allNotes = allNotes
        self.attempt = attempt
        self.deadline = deadline
    }
}

public struct GenerationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
