import Crypto

/// One chat-completions call as the API documents it: the JSON body and the headers. Pure.
struct ChatCompletionRequest: Equatable {
    var system: String
    var user: String
    /// Derived from the job, the category (or the assembly) and the attempt, so a retried call is
    /// a new request and a repeated one (after a `Retry-After` wait) is the same.
    var idempotencyKey: String
    /// Whose vision: OpenAI's `user` field takes a hash, never the id itself.
    var userID: String

    /// `user`: the first 32 hex digits of SHA-256 of the user id.
    static func userHash(_ userID: String) -> String {
        String(SHA256.hash(data: Array(userID.utf8)).hexString.prefix(32))
    }

    func body(_ settings: ModelSettings) -> [UInt8] {
        var json = JSONWriter(capacity: system.utf8.count + user.utf8.count + 512)
        json.object { json in
            json.field("model", settings.model)
            json.key("messages")
            json.array { messages in
                messages.object { message in
                    message.field("role", "system")
                    message.field("content", system)
                }
                messages.object { message in
                    message.field("role", "user")
                    message.field("content", user)
                }
            }
            json.key("temperature")
            json.number(settings.temperature)
            json.field("max_tokens", settings.maxTokens)
            json.field("stream", true)
            json.key("stream_options")
            json.object { $0.field("include_usage", true) }
            json.field("user", Self.userHash(userID))
        }
        return json.bytes
    }

    /// The API key goes in `Authorization` only, and only when one is configured.
    func headers(_ settings: ModelSettings) -> [String] {
        var headers = [
            "Content-Type: application/json", "Accept: text/event-stream", "Idempotency-Key: \(idempotencyKey)",
            "Expect:",  // no "100 Continue" round trip before the body
        ]
        if let key = settings.apiKey { headers.append("Authorization: Bearer \(key)") }
        return headers
    }
}
