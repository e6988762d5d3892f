import Testing
@testable import VisionQueue

@Suite("Webhook signatures (Standard Webhooks)")
struct WebhookSignerTests {
    @Test("The specification's own example: secret, id, timestamp and body give its signature")
    func specificationVector() throws {
        let signer = try #require(WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = signer.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("Each of id, timestamp and body changes the signature")
    func everyPartIsSigned() throws {
        let signer = try #require(WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let base = signer.signature(id: "msg_1", timestamp: 100, body: [1, 2])
        #expect(signer.signature(id: "msg_2", timestamp: 100, body: [1, 2]) != base)
        #expect(signer.signature(id: "msg_1", timestamp: 101, body: [1, 2]) != base)
        #expect(signer.signature(id: "msg_1", timestamp: 100, body: [1, 3]) != base)
        #expect(try #require(WebhookSigner(secret: "whsec_AAAA")).signature(id: "msg_1", timestamp: 100, body: [1, 2]) != base)
    }

    @Test("The three headers")
    func headers() throws {
        let signer = try #require(WebhookSigner(secret: "plain-secret"))
        let headers = signer.headers(id: "msg_x", timestamp: 7, body: [])
        #expect(headers[0] == "webhook-id: msg_x")
        #expect(headers[1] == "webhook-timestamp: 7")
        #expect(headers[2] == "webhook-signature: " + signer.signature(id: "msg_x", timestamp: 7, body: []))
    }

    @Test("A whsec_ secret that is not base64, or an empty one, is refused", arguments: ["whsec_", "whsec_***", "whsec_a-b_", ""])
    func badSecrets(_ secret: String) {
        #expect(WebhookSigner(secret: secret) == nil)
    }

    @Test("Standard base64 both ways, padded")
    func base64() {
        #expect(Base64URL.encodeStandard(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw==")
        #expect(Base64URL.encodeStandard([0xFB, 0xFF]) == "+/8=")
        #expect(Base64URL.decodeStandard("+/8=") == [0xFB, 0xFF])
        #expect(Base64URL.decodeStandard("YW55IGNhcm5hbCBwbGVhcw==") == Array("any carnal pleas".utf8))
        #expect(Base64URL.decodeStandard("-_8") == nil)
    }
}

@Suite("Webhook retry schedule")
struct WebhookRetryScheduleTests {
    @Test("5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then given up: more than a day in all")
    func defaults() {
        let schedule = WebhookRetrySchedule()
        let delays = (1...8).map { schedule.nextAttempt(afterFailedAttempts: $0, now: 0) }
        #expect(delays == [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, nil])
        #expect(schedule.maxAttempts == 8)
        #expect(schedule.totalMillis > 24 * 3_600_000)
    }

    @Test("Scaled by the first delay")
    func scaled() {
        let schedule = WebhookRetrySchedule(firstDelayMillis: 100)
        #expect(schedule.nextAttempt(afterFailedAttempts: 1, now: 1_000) == 1_100)
        #expect(schedule.nextAttempt(afterFailedAttempts: 2, now: 1_000) == 7_000)
        #expect(schedule.nextAttempt(afterFailedAttempts: 0, now: 1_000) == nil)
    }
}

@Suite("Webhook event body")
struct WebhookEventTests {
    @Test("type, timestamp and the job in data, the same bytes every time")
    func body() throws {
        let event = WebhookEvent(
            id: "msg_1", kind: .completed, jobID: "job-1", userID: "user-1", status: "completed", visionID: "vision-1",
            categoriesCompleted: 11, categoriesFailed: 1, promptTokens: 100, completionTokens: 50, error: "1 of 12 categories could not be written.",
            createdAt: 1_700_000_000_000, startedAt: 1_700_000_001_000, completedAt: 1_700_000_060_000,
            occurredAt: 1_700_000_060_000, attempts: 0)
        let text = String(decoding: event.body, as: UTF8.self)
        #expect(text.hasPrefix(#"{"type":"job.completed","timestamp":"2023-11-14T22:14:20.000Z","data":{"jobId":"job-1","userId":"user-1","status":"completed","visionId":"vision-1","categoriesCompleted":11,"categoriesFailed":1,"totalCategories":12,"tokens":{"prompt":100,"completion":50,"total":150}"#), "\(text)")
        var later = event
        later.attempts = 5
        #expect(later.body == event.body)
    }
}
