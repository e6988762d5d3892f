/// Joins the written sections into the final Markdown document.
public enum VisionAssembler {
    public static let title = "My Life Vision"

    /// The document: a title, then every category as a heading in writing order. A category
    /// that could not be written is kept as a heading with a note, so the reader sees the gap and
    /// can retry it rather than wonder where it went.
    public static func document(sections: [VisionCategory: String]) -> String {
        var parts = ["# \(title)"]
        for category in VisionCategory.allCases {
            let body = sections[category] ?? "_This section could not be written. Retry the failed categories from the job page._"
            parts.append("## \(category.title)\n\n\(body)")
        }
        return parts.joined(separator: "\n\n") + "\n"
    }
}
