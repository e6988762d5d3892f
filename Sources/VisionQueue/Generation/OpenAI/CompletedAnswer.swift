/// What a finished stream amounts to: a section, or why the attempt failed. Pure.
///
/// - A stream that ended without saying how it finished (no `finish_reason`, no `[DONE]`) was
///   cut: the attempt failed, whatever text arrived.
/// - A refusal or a content filter is a failed attempt, never a section.
/// - An answer cut off at the token limit (`finish_reason: "length"`) is trimmed back to its last
///   complete sentence and kept, marked as truncated; only when no complete sentence remains is
///   it a failed attempt.
/// - An empty answer (only white space) is a failed attempt.
enum CompletedAnswer {
    static func decide(_ stream: ChatCompletionStream) -> Result<(text: String, truncated: Bool), GenerationError> {
        guard stream.finishReason != nil || stream.done else {
            return .failure(GenerationError("The model's stream ended before the answer was complete.", reason: .incomplete))
        }
        if !stream.refusal.trimmed.isEmpty || stream.finishReason == "content_filter" {
            return .failure(GenerationError("The model declined to write this section (refusal or content filter).", reason: .refused))
        }
        let text = stream.text.trimmed
        guard !text.isEmpty else { return .failure(GenerationError("The model sent an empty answer.", reason: .empty)) }
        if stream.finishReason == "length" {
            guard let kept = lastCompleteSentences(text) else {
                return .failure(GenerationError("The model reached its token limit before finishing a sentence.", reason: .incomplete))
            }
            return .success((kept, true))
        }
        return .success((text, false))
    }

    /// The text up to and including its last sentence end (`.`, `!`, `?`, `…`, optionally followed
    /// by closing quotes or brackets); nil when there is none.
    static func lastCompleteSentences(_ text: String) -> String? {
        let closers: Set<Character> = ["\"", "'", "”", "’", ")", "]", "»", "*", "_"]
        let enders: Set<Character> = [".", "!", "?", "…", "。", "！", "？"]
        var end: String.Index?
        var index = text.startIndex
        while index < text.endIndex {
            if enders.contains(text[index]) {
                var after = text.index(after: index)
                while after < text.endIndex, closers.contains(text[after]) { after = text.index(after: after) }
                // A sentence ends where white space or the text's end follows: "3.5" and "e.g.x" do not.
                if after == text.endIndex || text[after].isWhitespace { end = after }
                index = after
            } else {
                index = text.index(after: index)
            }
        }
        guard let end else { return nil }
        let kept = String(text[..<end]).trimmed
        return kept.isEmpty ? nil : kept
    }
}
