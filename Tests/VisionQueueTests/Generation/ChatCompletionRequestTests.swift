import Testing
@testable import VisionQueue

@Suite("ChatCompletionRequest")
struct ChatCompletionRequestTests {
    static let request = ChatCompletionRequest(
        system: "You help people write their life vision.\nNever say \"you\".",
        user: "Write the \"Health\" section.\nMy notes: run 5 km \\ swim; café ☕\t{\"not\": \"json\"}",
        idempotencyKey: "vq-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-health-3",
        userID: "4f1c2a9e-user@example.com")

    static let settings = ModelSettings(
        baseURL: "http://127.0.0.1:8080/v1", model: "qwen2.5-0.5b-instruct", apiKey: "sk-test-1234567890abcdef",
        temperature: 0.7, maxTokens: 600)

    private func body(_ settings: ModelSettings = Self.settings) throws -> [String: JSONValue] {
        let value = try JSONParser.parse(Self.request.body(settings))
        return try #require(value.objectValue)
    }

    // MARK: - Body

    @Test func theBodyHasExactlyTheDocumentedKeys() throws {
        let body = try body()
        #expect(Set(body.keys) == ["model", "messages", "temperature", "max_tokens", "stream", "stream_options", "user"])
        #expect(body["model"] == .string("qwen2.5-0.5b-instruct"))
        #expect(body["temperature"] == .number("0.7"))
        #expect(body["max_tokens"] == .number("600"))
        #expect(body["stream"] == .bool(true))
        #expect(body["stream_options"] == .object(["include_usage": .bool(true)]))
    }

    @Test func theMessagesAreTheSystemThenTheUserMessageVerbatim() throws {
        let body = try body()
        guard case .array(let messages)? = body["messages"] else {
            Issue.record("messages is not an array")
            return
        }
        #expect(messages == [
            .object(["role": .string("system"), "content": .string(Self.request.system)]),
            .object(["role": .string("user"), "content": .string(Self.request.user)]),
        ])
    }

    @Test func theUserFieldIsAHashOfTheUserIDNeverTheIDItself() throws {
        let body = try body()
        #expect(body["user"] == .string("03189c1d7b8461ae0c98b1a4f4a7a656"))
        let text = String(decoding: Self.request.body(Self.settings), as: UTF8.self)
        #expect(!text.contains("4f1c2a9e-user"))
        #expect(!text.contains("example.com"))
        #expect(ChatCompletionRequest.userHash("alice") == "2bd806c97f0e00af1a1fc3328fa763a9")
        #expect(ChatCompletionRequest.userHash("alice") != ChatCompletionRequest.userHash("alice "))
    }

    @Test func theApiKeyIsNeverInTheBody() {
        let text = String(decoding: Self.request.body(Self.settings), as: UTF8.self)
        #expect(!text.contains("sk-test"))
    }

    @Test func settingsReachTheBody() throws {
        var settings = Self.settings
        settings.model = "gpt-4o-mini"
        settings.temperature = 1.25
        settings.maxTokens = 1200
        let body = try body(settings)
        #expect(body["model"] == .string("gpt-4o-mini"))
        #expect(body["temperature"] == .number("1.25"))
        #expect(body["max_tokens"] == .number("1200"))
    }

    // MARK: - Headers

    @Test func aConfiguredKeyIsSentAsABearerToken() {
        let headers = Self.request.headers(Self.settings)
        #expect(headers.filter { $0.hasPrefix("Authorization:") } == ["Authorization: Bearer sk-test-1234567890abcdef"])
        #expect(headers.contains("Idempotency-Key: vq-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-health-3"))
        #expect(headers.contains("Content-Type: application/json"))
        #expect(headers.contains("Accept: text/event-stream"))
    }

    @Test func noKeyMeansNoAuthorizationHeader() {
        var settings = Self.settings
        settings.apiKey = nil
        let headers = Self.request.headers(settings)
        #expect(!headers.contains { $0.lowercased().hasPrefix("authorization") })
        #expect(!headers.joined().contains("Bearer"))
        #expect(headers.contains("Idempotency-Key: vq-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-health-3"))
    }

    @Test func theKeyIsInNoOtherHeader() {
        let others = Self.request.headers(Self.settings).filter { !$0.hasPrefix("Authorization:") }
        #expect(!others.joined(separator: "\n").contains("sk-test"))
    }

    // MARK: - ModelSettings

    @Test(arguments: [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/chat/completions"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1/chat/completions"),
    ])
    func completionsURLAppendsThePathOnce(_ base: String, _ url: String) {
        #expect(ModelSettings(baseURL: base).completionsURL == url)
    }

    @Test func theDefaultsAreOpenAIs() {
        let settings = ModelSettings()
        #expect(settings.completionsURL == "https://api.openai.com/v1/chat/completions")
        #expect(settings.model == "gpt-4o-mini")
        #expect(settings.apiKey == nil)
        #expect(settings.maxTokens == 600)
    }

    @Test func costUsesBothPricesPerMillionTokens() throws {
        let settings = ModelSettings(pricePerMillionInput: 2, pricePerMillionOutput: 8)
        #expect(settings.cost(of: TokenUsage(promptTokens: 1_000, completionTokens: 500)) == 0.006)
        #expect(settings.cost(of: TokenUsage(promptTokens: 1_000_000, completionTokens: 0)) == 2)
        #expect(settings.cost(of: TokenUsage(promptTokens: 0, completionTokens: 1_000_000)) == 8)
        #expect(settings.cost(of: .zero) == 0)
        let cheap = ModelSettings(pricePerMillionInput: 0.15, pricePerMillionOutput: 0.6)
        let cost = try #require(cheap.cost(of: TokenUsage(promptTokens: 3_000, completionTokens: 1_200)))
        #expect(abs(cost - 0.00117) < 1e-12)
    }

    @Test func costIsNilUnlessBothPricesAreSet() {
        let usage = TokenUsage(promptTokens: 1_000, completionTokens: 500)
        #expect(ModelSettings().cost(of: usage) == nil)
        #expect(ModelSettings(pricePerMillionInput: 2).cost(of: usage) == nil)
        #expect(ModelSettings(pricePerMillionOutput: 8).cost(of: usage) == nil)
    }

    @Test func printedSettingsNeverShowTheKeyOrCredentialsInTheURL() {
        let settings = ModelSettings(baseURL: "https://user:pa55word@api.example.com/v1?api-key=zzz", apiKey: "sk-secret-key-123456")
        #expect(!settings.description.contains("sk-secret"))
        #expect(!settings.description.contains("pa55word") && !settings.description.contains("zzz"))
        #expect(settings.loggableURL == "https://api.example.com/v1/chat/completions")
    }
}
