/// What an answer that is not a stream means, by its status: the pure rules for a provider's
/// failures. The API key is redacted from anything quoted back.
enum ProviderReply {
    /// What to do after an HTTP status other than 200.
    enum Verdict: Equatable {
        /// 429, or 503 with `Retry-After`: wait this long, then call again (no attempt used up).
        case waitAndRetry(millis: Int64, reason: String)
        /// Other 5xx, 408, 409, a 503 without `Retry-After`: the attempt failed.
        case attemptFailed(String)
        /// 400, 401, 403, 404, 413, 422 and other 4xx: the configuration is wrong; the job fails.
        case configuration(String)
    }

    /// The wait when a 429 gives no `Retry-After`: doubles with every wait of one attempt.
    static let defaultRateLimitWaitMillis: Int64 = 5_000

    static func verdict(
        status: Int, retryAfter: String?, body: [UInt8], now: EpochMillis, waitsSoFar: Int, redactor: SecretRedactor
    ) -> Verdict {
        var said = redactor.redact(providerMessage(body) ?? "").prefix(300)
        while let last = said.last, last == "." || last.isWhitespace { said = said.dropLast() }
        let quoted = said.isEmpty ? "" : ": \(said)"
        // A 429 for an exhausted quota or credit is no rate limit: waiting will not end it.
        if status == 429, let code = providerCode(body), code == "insufficient_quota" || code == "billing_hard_limit_reached" {
            return .configuration("The model provider refused for billing (HTTP 429, \(code))\(quoted). Check the account's plan and credit.")
        }
        switch status {
        case 429, 503:
            if let header = retryAfter, let wait = RetryAfter.millis(header, now: now) {
                return .waitAndRetry(millis: wait, reason: status == 429 ? "rate limited" : "the model is unavailable")
            }
            if status == 429 {
                let wait = defaultRateLimitWaitMillis << min(waitsSoFar, 6)
                return .waitAndRetry(millis: wait, reason: "rate limited")
            }
            return .attemptFailed("The model is unavailable (HTTP 503)\(quoted)")
        case 300..<400:
            return .configuration("The model provider answered with a redirect (HTTP \(status)). Check VQ_LLM_BASE_URL (https, the path up to /v1).")
        case 401, 403:
            return .configuration("The model provider refused the API key (HTTP \(status))\(quoted). Check VQ_LLM_API_KEY.")
        case 404:
            return .configuration("The model provider does not know this model or URL (HTTP 404)\(quoted). Check VQ_LLM_MODEL and VQ_LLM_BASE_URL.")
        case 408, 409, 425:
            return .attemptFailed("The model provider answered HTTP \(status)\(quoted)")
        case 400..<500:
            return .configuration("The model provider refused the request (HTTP \(status))\(quoted). Check the VQ_LLM_* settings.")
        default:
            return .attemptFailed("The model provider answered HTTP \(status)\(quoted)")
        }
    }

    /// The `error.code` (or `error.type`) of an OpenAI-style error body.
    static func providerCode(_ body: [UInt8]) -> String? {
        guard let error = (try? JSONParser.parse(body, maxDepth: 32))?.objectValue?["error"]?.objectValue else { return nil }
        return error["code"]?.stringValue ?? error["type"]?.stringValue
    }

    /// The `error.message` of an OpenAI-style error body, or the start of a plain-text one.
    static func providerMessage(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        if let value = try? JSONParser.parse(body, maxDepth: 32) {
            if let error = value.objectValue?["error"], let message = ChatCompletionStream.errorMessage(error) { return message }
            if let detail = value.objectValue?["detail"]?.stringValue { return detail }
            if let message = value.objectValue?["message"]?.stringValue { return message }
        }
        // Whole (up to 4 KB), so a key quoted across the cut is still redacted before the message is shortened.
        let text = String(decoding: body.prefix(4096), as: UTF8.self).trimmed
        return text.isEmpty ? nil : text.filter { !$0.isNewline }
    }
}
