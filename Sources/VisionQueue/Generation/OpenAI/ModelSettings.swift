/// How to reach the model (`VQ_GENERATOR=openai`); read once by `VisionQueueConfiguration`.
/// Its description leaves the key out, so printing the settings never prints the key.
public struct ModelSettings: Sendable, CustomStringConvertible {
    /// `VQ_LLM_BASE_URL`, default `https://api.openai.com/v1`: the API root; calls go to
    /// `{base}/chat/completions`.
    public var baseURL: String
    /// `VQ_LLM_MODEL`, default `gpt-4o-mini`.
    public var model: String
    /// `VQ_LLM_API_KEY` or the file named by `VQ_LLM_API_KEY_FILE`; unset sends no key (a local
    /// server). Never logged, never in an error or an answer.
    public var apiKey: String?
    /// `VQ_LLM_TEMPERATURE`, default 0.7.
    public var temperature: Double
    /// `VQ_LLM_MAX_TOKENS`, default 600: the most a section (or the assembly) may use.
    public var maxTokens: Int
    /// `VQ_LLM_TIMEOUT_SECONDS`, default 300: one whole call, first byte to last.
    public var timeoutSeconds: Int
    /// `VQ_LLM_STALL_SECONDS`, default 60: a call that receives nothing for this long has stalled.
    public var stallSeconds: Int
    /// `VQ_LLM_MAX_CONCURRENT`, default 8: model calls in flight on this machine, all processes together.
    public var maxConcurrent: Int
    /// `VQ_LLM_MAX_WAITS`, default 10: waits for `Retry-After` (429, 503) one attempt may make
    /// without using it up; the next rate limit then fails the attempt.
    public var maxWaits: Int
    /// `VQ_LLM_MAX_WAIT_SECONDS`, default 600: a `Retry-After` longer than this fails the attempt
    /// instead of holding the category that long.
    public var maxWaitSeconds: Int
    /// `VQ_LLM_PRICE_INPUT_PER_MTOK` / `VQ_LLM_PRICE_OUTPUT_PER_MTOK`, default unset: prices per
    /// million prompt / completion tokens, for a cost estimate in status and on the page.
    public var pricePerMillionInput: Double?
    public var pricePerMillionOutput: Double?

    public init(
        baseURL: String = "https://api.openai.com/v1", model: String = "gpt-4o-mini", apiKey: String? = nil,
        temperature: Double = 0.7, maxTokens: Int = 600, timeoutSeconds: Int = 300, stallSeconds: Int = 60,
        maxConcurrent: Int = 8, maxWaits: Int = 10, maxWaitSeconds: Int = 600,
        pricePerMillionInput: Double? = nil, pricePerMillionOutput: Double? = nil
    ) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.timeoutSeconds = timeoutSeconds
        self.stallSeconds = stallSeconds
        self.maxConcurrent = maxConcurrent
        self.maxWaits = maxWaits
        self.maxWaitSeconds = maxWaitSeconds
        self.pricePerMillionInput = pricePerMillionInput
        self.pricePerMillionOutput = pricePerMillionOutput
    }

    public var description: String {
        "\(model) at \(loggableURL)\(apiKey == nil ? "" : " with an API key")"
    }

    /// The calls' URL without any user info or query it may carry (where some put credentials).
    public var loggableURL: String {
        var url = completionsURL
        if let query = url.firstIndex(of: "?") { url = String(url[..<query]) }
        if let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") {
            url = String(url[..<scheme.upperBound]) + url[url.index(after: at)...]
        }
        return url
    }

    /// `{base}/chat/completions`, a query the base URL carries (`?api-version=`) kept at the end.
    public var completionsURL: String {
        var base = baseURL
        var query = ""
        if let mark = base.firstIndex(of: "?") {
            query = String(base[mark...])
            base = String(base[..<mark])
        }
        if base.hasSuffix("/") { base.removeLast() }
        return base + "/chat/completions" + query
    }

    /// The estimated cost of `usage` in the prices' currency; nil unless both prices are set.
    public func cost(of usage: TokenUsage) -> Double? {
        guard let pricePerMillionInput, let pricePerMillionOutput else { return nil }
        return (Double(usage.promptTokens) * pricePerMillionInput + Double(usage.completionTokens) * pricePerMillionOutput) / 1_000_000
    }
}
