/// Reads a streamed chat completion (`stream: true`) event by event: the text so far, how it
/// finished and what it cost. Pure: it sees only the events' data, so every way a provider can
/// misbehave is tested without a socket.
struct ChatCompletionStream {
    /// The stream broke its format: the attempt fails and is retried.
    struct Malformed: Error, Equatable {
        var reason: String
    }

    /// An error object the provider sent inside the stream (`data: {"error": {...}}`).
    struct ProviderError: Error, Equatable {
        var message: String
    }

    private(set) var text = ""
    private(set) var finishReason: String?
    private(set) var usage: TokenUsage?
    private(set) var refusal = ""
    /// `data: [DONE]` arrived: the provider ended the stream on purpose.
    private(set) var done = false

    /// Reads one event's data. Throws on data that is not a chunk, and on an error chunk.
    mutating func read(_ data: String) throws -> Void {
        if data == "[DONE]" {
            done = true
            return
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(data.utf8), maxDepth: 32)
        } catch {
            throw Malformed(reason: "a stream event is not JSON (\(error.message) at byte \(error.offset))")
        }
        guard let chunk = value.objectValue else { throw Malformed(reason: "a stream event is a JSON \(value.typeName), not an object") }
        if let error = chunk["error"], error != .null {
            throw ProviderError(message: Self.errorMessage(error) ?? "the provider sent an error in the stream")
        }
        if let usage = chunk["usage"]?.objectValue {
            self.usage = TokenUsage(
                promptTokens: usage["prompt_tokens"]?.int64Value ?? 0, completionTokens: usage["completion_tokens"]?.int64Value ?? 0)
        }
        guard let choices = chunk["choices"] else { return }
        guard case .array(let list) = choices else { throw Malformed(reason: "choices is a \(choices.typeName), not an array") }
        for choice in list {
            guard let choice = choice.objectValue else { throw Malformed(reason: "a choice is not an object") }
            if let delta = choice["delta"]?.objectValue {
                if let content = delta["content"]?.stringValue { text += content }
                if let refused = delta["refusal"]?.stringValue { refusal += refused }
            }
            if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        }
    }

    /// A completion answered in one piece (`stream` ignored): read as if it had streamed.
    static func fromWholeAnswer(_ body: [UInt8]) -> ChatCompletionStream? {
        guard let object = (try? JSONParser.parse(body, maxDepth: 32))?.objectValue,
            case .array(let choices)? = object["choices"], let choice = choices.first?.objectValue
        else { return nil }
        var stream = ChatCompletionStream()
        stream.text = choice["message"]?.objectValue?["content"]?.stringValue ?? ""
        stream.refusal = choice["message"]?.objectValue?["refusal"]?.stringValue ?? ""
        stream.finishReason = choice["finish_reason"]?.stringValue
        if let usage = object["usage"]?.objectValue {
            stream.usage = TokenUsage(
                promptTokens: usage["prompt_tokens"]?.int64Value ?? 0, completionTokens: usage["completion_tokens"]?.int64Value ?? 0)
        }
        stream.done = true
        return stream
    }

    /// The provider's message in an error object (`{"error": {"message": ...}}` or a bare string).
    static func errorMessage(_ error: JSONValue) -> String? {
        if let text = error.stringValue { return text }
        if let message = error.objectValue?["message"]?.stringValue { return message }
        return nil
    }
}

extension JSONValue {
    /// A whole number that fits in 64 bits; nil for anything else.
    var int64Value: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }
}
