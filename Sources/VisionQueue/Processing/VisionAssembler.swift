/// Joins the written sections into the final Markdown document.
public enum VisionAssembler {
    public static let title = "My Life Vision"

    /// The document: a title, then every category as a heading in writing order. A category
    /// that could not be written is kept as a heading with a note, so the reader sees the gap and
    /// can retry it rather than wonder where it went. With a `framing` (the model's opening and
    /// closing) the sections sit between them; a `note` (the model could not write them) is said
    /// under the title.
    public static func document(sections: [VisionCategory: String], framing: VisionFraming? = nil, note: String? = nil) -> String {
        var parts = ["# \(title)"]
        if let note { parts.append("_\(note)_") }
        if let framing { parts.append(framing.opening) }
        for category in VisionCategory.allCases {
            let body = sections[category] ?? "_This section could not be written. Retry the failed categories from the job page._"
            parts.append("## \(category.title)\n\n\(body)")
        }
        if let framing { parts.append("---\n\n\(framing.closing)") }
        return parts.joined(separator: "\n\n") + "\n"
    }
}
