import Testing
@testable import VisionQueue

@Suite("ProviderReply")
struct ProviderReplyTests {
    static let apiKey = "sk-test-1234567890abcdef"
    let redactor = SecretRedactor([Self.apiKey])

    private func verdict(
        _ status: Int, retryAfter: String? = nil, body: String = "", now: EpochMillis = t0, waitsSoFar: Int = 0
    ) -> ProviderReply.Verdict {
        ProviderReply.verdict(
            status: status, retryAfter: retryAfter, body: Array(body.utf8), now: now, waitsSoFar: waitsSoFar, redactor: redactor)
    }

    private func message(of verdict: ProviderReply.Verdict) -> String {
        switch verdict {
        case .waitAndRetry(_, let reason): reason
        case .attemptFailed(let message), .configuration(let message): message
        }
    }

    private static func openAIError(_ message: String) -> String {
        #"{"error":{"message":"\#(message)","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#
    }

    // MARK: - Waiting

    @Test func anExhaustedQuotaIsNoRateLimitButAConfigurationError() {
        let body = #"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}"#
        let reply = verdict(429, retryAfter: "20", body: body)
        guard case .configuration(let message) = reply else {
            Issue.record("an exhausted quota is waited for: \(reply)")
            return
        }
        #expect(message.contains("billing") && message.contains("You exceeded your current quota"))
    }

    @Test func rateLimitWithRetryAfterSecondsWaitsThatLong() {
        #expect(verdict(429, retryAfter: "20") == .waitAndRetry(millis: 20_000, reason: "rate limited"))
        #expect(verdict(429, retryAfter: "0") == .waitAndRetry(millis: 0, reason: "rate limited"))
    }

    @Test func rateLimitWithRetryAfterDateWaitsUntilThen() {
        let date: EpochMillis = 784_111_777_000
        #expect(verdict(429, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT", now: date - 45_000)
            == .waitAndRetry(millis: 45_000, reason: "rate limited"))
        #expect(verdict(429, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT", now: date + 1_000)
            == .waitAndRetry(millis: 0, reason: "rate limited"))
    }

    @Test func rateLimitWithoutRetryAfterWaitsTheDefaultDoublingWithEveryWait() {
        let waits = (0...8).map { waitsSoFar -> Int64? in
            guard case .waitAndRetry(let millis, _) = verdict(429, waitsSoFar: waitsSoFar) else { return nil }
            return millis
        }
        // 5 s, 10 s, 20 s ... up to 5 s × 64 = 320 s, then no longer.
        #expect(waits == [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 320_000, 320_000])
    }

    @Test func rateLimitWithAnUnreadableRetryAfterFallsBackToTheDefault() {
        #expect(verdict(429, retryAfter: "soon", waitsSoFar: 1) == .waitAndRetry(millis: 10_000, reason: "rate limited"))
    }

    @Test func unavailableWithRetryAfterWaits() {
        #expect(verdict(503, retryAfter: "7") == .waitAndRetry(millis: 7_000, reason: "the model is unavailable"))
    }

    @Test func unavailableWithoutRetryAfterFailsTheAttempt() {
        let reply = verdict(503, body: #"{"error":{"message":"Loading model","type":"unavailable_error","code":503}}"#)
        #expect(reply == .attemptFailed("The model is unavailable (HTTP 503): Loading model"))
        #expect(verdict(503) == .attemptFailed("The model is unavailable (HTTP 503)"))
    }

    // MARK: - Failed attempts

    @Test(arguments: [500, 502, 504, 408, 409, 425, 520])
    func serverErrorsFailTheAttempt(_ status: Int) {
        guard case .attemptFailed(let message) = verdict(status, body: "upstream connect error") else {
            Issue.record("HTTP \(status) is not a failed attempt")
            return
        }
        #expect(message == "The model provider answered HTTP \(status): upstream connect error")
    }

    // MARK: - Configuration

    @Test(arguments: [401, 403])
    func aRefusedKeyIsConfigurationQuotingTheProvider(_ status: Int) {
        let reply = verdict(status, body: Self.openAIError("You do not have access to this organization."))
        guard case .configuration(let message) = reply else {
            Issue.record("HTTP \(status) is not a configuration error: \(reply)")
            return
        }
        #expect(message.hasPrefix("The model provider refused the API key (HTTP \(status)): You do not have access to this organization."))
        #expect(message.hasSuffix("Check VQ_LLM_API_KEY."))
        #expect(message == "The model provider refused the API key (HTTP \(status)): You do not have access to this organization. Check VQ_LLM_API_KEY.")
    }

    @Test func anUnknownModelIsConfigurationNamingTheSettings() {
        let reply = verdict(404, body: Self.openAIError("The model `gpt-9` does not exist or you do not have access to it"))
        #expect(reply == .configuration(
            "The model provider does not know this model or URL (HTTP 404): The model `gpt-9` does not exist or you do not have access to it. Check VQ_LLM_MODEL and VQ_LLM_BASE_URL."))
    }

    @Test(arguments: [400, 413, 422])
    func aRefusedRequestIsConfiguration(_ status: Int) {
        let reply = verdict(status, body: Self.openAIError("max_tokens is too large: 100000"))
        #expect(reply == .configuration(
            "The model provider refused the request (HTTP \(status)): max_tokens is too large: 100000. Check the VQ_LLM_* settings."))
    }

    @Test func otherErrorShapesAreQuotedToo() {
        #expect(message(of: verdict(422, body: #"{"detail":"temperature must be at most 2"}"#)).contains(": temperature must be at most 2."))
        #expect(message(of: verdict(400, body: #"{"message":"bad model name"}"#)).contains(": bad model name."))
        #expect(message(of: verdict(400, body: #"{"error":"invalid json"}"#)).contains(": invalid json."))
        // Plain text loses its line breaks; an empty body quotes nothing.
        #expect(message(of: verdict(502, body: "Bad\nGateway\n")) == "The model provider answered HTTP 502: BadGateway")
        #expect(verdict(400) == .configuration("The model provider refused the request (HTTP 400). Check the VQ_LLM_* settings."))
    }

    @Test func aLongProviderMessageIsQuotedInPart() {
        let long = String(repeating: "x", count: 2_000)
        let text = message(of: verdict(500, body: Self.openAIError(long)))
        #expect(text == "The model provider answered HTTP 500: " + String(repeating: "x", count: 300))
    }

    // MARK: - The API key never leaks

    @Test(arguments: [401, 400, 403, 429, 500, 503])
    func aQuotedApiKeyNeverReachesTheVerdict(_ status: Int) {
        let bodies = [
            Self.openAIError("Incorrect API key provided: \(Self.apiKey). You can find your API key at https://platform.openai.com/account/api-keys."),
            Self.openAIError("Incorrect API key provided: sk-test-****************cdef."),
            Self.openAIError("Key 1234567890abcdef is not valid"),
            "invalid key \(Self.apiKey)\nfor this project",
        ]
        for body in bodies {
            let text = message(of: verdict(status, body: body))
            #expect(!text.contains(Self.apiKey), "HTTP \(status): \(text)")
            let key = Array(Self.apiKey)
            for start in 0...(key.count - 8) {
                let piece = String(key[start..<(start + 8)])
                #expect(!text.contains(piece), "HTTP \(status) leaks \(piece): \(text)")
            }
        }
    }

    @Test func theKeyIsRedactedNotTheWholeMessage() {
        let text = message(of: verdict(401, body: Self.openAIError("Incorrect API key provided: \(Self.apiKey). You can find your API key at https://platform.openai.com/account/api-keys.")))
        #expect(text.hasPrefix("The model provider refused the API key (HTTP 401): Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys."))
        #expect(text.hasSuffix("Check VQ_LLM_API_KEY."))
    }

    // MARK: - SecretRedactor

    @Test func redactsEveryWholeOccurrence() {
        let redactor = SecretRedactor(["sk-abcdefghijklmnop", nil, ""])
        #expect(redactor.redact("key sk-abcdefghijklmnop and again sk-abcdefghijklmnop!") == "key [redacted] and again [redacted]!")
    }

    @Test func redactsAPartialOccurrenceOfEightCharactersOrMore() {
        let redactor = SecretRedactor(["sk-abcdefghijklmnop"])
        // The start, the end and a middle piece of the key.
        #expect(!redactor.redact("key sk-abcdef...").contains("sk-abcde"))
        #expect(!redactor.redact("key ...ijklmnop").contains("ijklmnop"))
        #expect(!redactor.redact("key cdefghijklm").contains("cdefghij"))
        #expect(redactor.redact("key sk-abcdefghijkl... rejected") == "key [redacted]fghijkl... rejected")
    }

    @Test func leavesShorterPiecesAndOtherTextAlone() {
        let redactor = SecretRedactor(["sk-abcdefghijklmnop"])
        let text = "Incorrect API key provided: sk-abcd****mnop. See https://platform.openai.com/account/api-keys."
        #expect(redactor.redact(text) == text)
        #expect(redactor.redact("") == "")
        #expect(SecretRedactor([nil, ""]).redact("nothing to hide") == "nothing to hide")
    }

    @Test func aShortSecretIsRedactedWholeOnly() {
        let redactor = SecretRedactor(["hunter2"])
        #expect(redactor.redact("password hunter2, hunter") == "password [redacted], hunter")
    }

    @Test func everySecretIsRedacted() {
        let redactor = SecretRedactor(["first-secret-value", "another-key-0987654321"])
        #expect(redactor.redact("a first-secret-value b another-key-0987654321 c") == "a [redacted] b [redacted] c")
    }

    @Test func secretsSharingAPieceStillLeakNoPieceOfEither() {
        let secrets = ["first-secret-value", "second-secret-value"]
        let text = SecretRedactor(secrets).redact("a first-secret-value b second-secret-value c")
        for secret in secrets {
            let characters = Array(secret)
            for start in 0...(characters.count - 8) {
                #expect(!text.contains(String(characters[start..<(start + 8)])), "\(text)")
            }
        }
    }

    // MARK: - String.replacingAll

    @Test func replacingAllReplacesEveryOccurrence() {
        #expect("a-b-c".replacingAll("-", with: "+") == "a+b+c")
        #expect("aaaa".replacingAll("aa", with: "b") == "bb")
        #expect("aaa".replacingAll("aa", with: "b") == "ba")
        #expect("--x--".replacingAll("--", with: "") == "x")
        #expect("héllo wörld".replacingAll("ö", with: "o") == "héllo world")
        #expect("abc".replacingAll("abc", with: "xyz") == "xyz")
    }

    @Test func replacingAllWithNothingToReplaceIsTheSameText() {
        #expect("abc".replacingAll("d", with: "x") == "abc")
        #expect("abc".replacingAll("", with: "x") == "abc")
        #expect("".replacingAll("a", with: "x") == "")
        // The replacement is not searched again.
        #expect("ab".replacingAll("a", with: "aa") == "aab")
    }
}
