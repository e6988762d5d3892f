/// The finished document of a job, in one of its versions.
public struct Vision: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var jobID: JobID
    /// The written section per category; a category that failed has none.
    public var sections: [VisionCategory: String]
    /// The assembled Markdown document.
    public var document: String
    public var createdAt: EpochMillis
    /// 1 for the first; each retry or rewrite that assembles the vision again adds one.
    public var version: Int = 1
    /// Every version there is, oldest first (this one included).
    public var versions: [VisionVersion] = []
}

/// One version of a vision, as the vision page lists them.
public struct VisionVersion: Sendable, Equatable {
    public var version: Int
    public var createdAt: EpochMillis

    public init(version: Int, createdAt: EpochMillis) {
        self.version = version
        self.createdAt = createdAt
    }
}
