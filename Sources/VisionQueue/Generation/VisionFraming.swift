/// The opening and closing paragraphs a model writes around the twelve sections
/// (`VQ_ASSEMBLY=model`).
public struct VisionFraming: Sendable, Equatable {
    public var opening: String
    public var closing: String

    public init(opening: String, closing: String) {
        self.opening = opening
        self.closing = closing
    }

    /// Reads the model's answer: the opening, a line of `---`, the closing. nil when either part
    /// is missing.
    public init?(modelText: String) {
        // By line whatever the line ends: "\r\n" is one Character, not a "\n".
        let lines = modelText.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let divider = lines.firstIndex(where: { $0.trimmed.allSatisfy { $0 == "-" } && $0.trimmed.count >= 3 }) else {
            return nil
        }
        let opening = lines[..<divider].joined(separator: "\n").trimmed
        let closing = lines[(divider + 1)...].joined(separator: "\n").trimmed
        guard !opening.isEmpty, !closing.isEmpty else { return nil }
        self.init(opening: opening, closing: closing)
    }
}
