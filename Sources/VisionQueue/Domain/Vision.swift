/// The finished document of a job.
public struct Vision: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var jobID: JobID
    /// The written section per category; a category that failed has none.
    public var sections: [VisionCategory: String]
    /// The assembled Markdown document.
    public var document: String
    public var createdAt: EpochMillis
}
