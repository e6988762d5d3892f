import Foundation
import Testing
import VisionQueue

/// Model generation against a stand-in for a hosted provider (a fake, named so: it misbehaves on
/// request, which no real server does), through the real stack: every failure a provider has,
/// and what the job, the page's status answer and the logs make of it.
@Suite("Generation: a provider's failures")
struct GenerationFaultTests {
    static let apiKey = "sk-test-Zq81PLmXv0aT7bNc3rW5"
    static let timeoutSeconds = 5
    static let stallSeconds = 2

    static let setup = Result { try makeStack() }

    /// The stand-in and a stack writing with it: one shared by the suite's tests, and one of its
    /// own for the test that kills a worker (which would take other tests' categories with it).
    static func makeStack() throws -> (Stack, StandInModelServer) {
        let model = try StandInModelServer(streamSeconds: 0.2)
        let stack = try Stack.start(
            .init(environment: [
                "VQ_GENERATOR": "openai", "VQ_LLM_BASE_URL": model.baseURL, "VQ_LLM_MODEL": "standin-model",
                "VQ_LLM_API_KEY": apiKey, "VQ_LLM_TIMEOUT_SECONDS": String(timeoutSeconds),
                "VQ_LLM_STALL_SECONDS": String(stallSeconds), "VQ_LLM_MAX_CONCURRENT": "8", "VQ_RETRY_BASE_MS": "300",
                // A killed worker's claim lapses in 10 s instead of a minute.
                "VQ_LEASE_SECONDS": "10",
                "VQ_MAX_ACTIVE_JOBS": "100", "VQ_MAX_CREATES_PER_HOUR": "1000", "VQ_LLM_PRICE_INPUT_PER_MTOK": "0.15",
                "VQ_LLM_PRICE_OUTPUT_PER_MTOK": "0.60",
            ]))
        return (stack, model)
    }

    /// Starts a job whose `fun` notes carry a fault marker; answers its id and owner's token.
    private func job(_ fault: String, user: String = #function) throws -> (Stack, StandInModelServer, String, String) {
        let (stack, model) = try Self.setup.get()
        let token = stack.token(for: "fault-\(user.prefix(40))")
        let id = try stack.createJob(token: token, answers: ["fun": "Painting on Sundays [[fault:\(fault)]]", "health": "Run a marathon"])
        return (stack, model, token, id)
    }

    private func category(_ status: [String: Any], _ key: String) -> [String: Any] {
        (status["categories"] as? [[String: Any]])?.first { $0["key"] as? String == key } ?? [:]
    }

    /// The stand-in's calls for one category of a job, oldest first.
    private func calls(_ model: StandInModelServer, _ jobID: String, _ key: String) -> [[String: Any]] {
        model.calls(forJob: jobID).filter {
            ($0["headers"] as? [String: String])?["idempotency-key"]?.hasPrefix("\(jobID)-\(key)-") == true
        }
    }

    private func idempotencyKey(_ call: [String: Any]) -> String? { (call["headers"] as? [String: String])?["idempotency-key"] }

    private func completedWithTwelve(_ stack: Stack, _ id: String, _ token: String) throws -> [String: Any] {
        let final = try stack.waitForJob(id, token: token, timeout: 90)
        #expect(final["status"] as? String == "completed", "\(final)")
        #expect(final["categoriesCompleted"] as? Int == 12)
        return final
    }

    @Test("429 with Retry-After: 3 waits at least 3 s, keeps the attempt, and the page says it waits")
    func rateLimitedWaitsForRetryAfter() throws {
        let (stack, model, token, id) = try job("429:3")
        let waiting = try stack.waitForJob(id, token: token, timeout: 30) { self.category($0, "fun")["waitingUntil"] is String }
        #expect(category(waiting, "fun")["waitingReason"] as? String == "rate limited")
        #expect(category(waiting, "fun")["status"] as? String == "running")
        let final = try completedWithTwelve(stack, id, token)
        #expect(category(final, "fun")["attempts"] as? Int == 1, "the wait did not use up an attempt")
        let funCalls = calls(model, id, "fun")
        try #require(funCalls.count == 2)
        #expect(funCalls[0]["status"] as? Int == 429)
        let gap = (funCalls[1]["time"] as? Double ?? 0) - (funCalls[0]["ended"] as? Double ?? 0)
        #expect(gap >= 2.9, "called again \(gap) s after the 429")
        #expect(idempotencyKey(funCalls[0]) == idempotencyKey(funCalls[1]), "the same attempt, the same key")
    }

    @Test("429 with an HTTP-date Retry-After is honoured too")
    func rateLimitedWithHTTPDate() throws {
        let (stack, model, token, id) = try job("429date:3")
        _ = try completedWithTwelve(stack, id, token)
        let funCalls = calls(model, id, "fun")
        try #require(funCalls.count == 2)
        let gap = (funCalls[1]["time"] as? Double ?? 0) - (funCalls[0]["ended"] as? Double ?? 0)
        // An HTTP-date has whole seconds: the wait is 2-3 s.
        #expect(gap >= 1.9, "called again \(gap) s after the 429")
    }

    @Test("503 with Retry-After waits; 503 without it, and 500, fail the attempt and retry")
    func unavailableAndServerErrors() throws {
        for (fault, attempts) in [("503:2", 1), ("503", 2), ("500", 2)] {
            let (stack, model, token, id) = try job(fault, user: "server-\(fault)")
            let final = try completedWithTwelve(stack, id, token)
            #expect(category(final, "fun")["attempts"] as? Int == attempts, "\(fault)")
            let funCalls = calls(model, id, "fun")
            #expect(funCalls.count == 2, "\(fault)")
            if attempts == 2 { #expect(idempotencyKey(funCalls[0]) != idempotencyKey(funCalls[1]), "a new attempt, a new key") }
        }
    }

    @Test("A call past the timeout, a stalled stream, a cut connection, malformed SSE, an empty answer: retried")
    func brokenAnswersAreRetried() throws {
        for fault in ["timeout:\(Self.timeoutSeconds + 5)", "stall:\(Self.stallSeconds + 6)", "cut", "malformed", "empty"] {
            let (stack, model, token, id) = try job(fault, user: "broken-\(fault)")
            let final = try completedWithTwelve(stack, id, token)
            let fun = category(final, "fun")
            #expect(fun["attempts"] as? Int == 2, "\(fault): \(fun)")
            #expect(fun["status"] as? String == "done")
            // The stand-in logs a call when it has finished with it: a stalled one, seconds after
            // the service gave up on it.
            var funCalls = calls(model, id, "fun")
            for _ in 0..<150 where funCalls.count < 2 {
                usleep(100_000)
                funCalls = calls(model, id, "fun")
            }
            #expect(funCalls.count == 2, "\(fault)")
            if fault.hasPrefix("timeout") {
                let took = (funCalls[0]["ended"] as? Double ?? 0) - (funCalls[0]["time"] as? Double ?? 0)
                #expect(took >= Double(Self.timeoutSeconds) - 0.5, "the first call was given up after \(took) s")
            }
        }
    }

    @Test("A job cancelled while it waits for Retry-After makes no further call")
    func cancelledDuringAWaitStops() throws {
        let (stack, model, token, id) = try job("429:6")
        _ = try stack.waitForJob(id, token: token, timeout: 30) { self.category($0, "fun")["waitingUntil"] is String }
        let cancel = try stack.client.postJSON("/api/vision-jobs/cancel", ["jobId": id], token: token)
        #expect(cancel.status == 200)
        sleep(8)  // past the wait: a worker that did not stop would call again now
        #expect(calls(model, id, "fun").count == 1, "called the model again after the cancel")
        #expect(try stack.status(id, token: token)["status"] as? String == "cancelled")
    }

    @Test("401: the job fails at once after one call, and the key is nowhere in answers or logs")
    func refusedKeyFailsTheJobAtOnce() throws {
        let (stack, model, token, id) = try job("401")
        let final = try stack.waitForJob(id, token: token, timeout: 30)
        #expect(final["status"] as? String == "failed")
        let error = try #require(final["error"] as? String)
        #expect(error.contains("API key") && error.contains("VQ_LLM_API_KEY"), "the error says what to fix: \(error)")
        #expect(model.calls(forJob: id).count == 1, "one call, not 12 x 3")
        #expect(final["categoriesFailed"] as? Int == 12)

        let list = try stack.client.get("/api/vision-jobs/list", token: token).text
        let answers = try stack.status(id, token: token).description + list
        let logs = try FileManager.default.contentsOfDirectory(atPath: stack.dataDirectory + "/logs").map {
            (try? String(contentsOfFile: stack.dataDirectory + "/logs/" + $0, encoding: .utf8)) ?? ""
        }.joined()
        #expect(logs.contains("API key"), "the log says what to fix")
        let key = Array(Self.apiKey)
        for start in 0...(key.count - 8) {
            let piece = String(key[start..<(start + 8)])
            #expect(!answers.contains(piece) && !logs.contains(piece), "a piece of the key leaked: \(piece)")
        }
    }

    @Test("finish_reason length: trimmed to the last complete sentence, kept, marked as cut")
    func cutAtTheTokenLimitIsTrimmedAndKept() throws {
        let (stack, _, token, id) = try job("length")
        let final = try completedWithTwelve(stack, id, token)
        #expect(category(final, "fun")["truncated"] as? Bool == true)
        #expect(category(final, "health")["truncated"] as? Bool == false)
        let vision = try stack.client.get("/api/visions?id=\(final["visionId"] as? String ?? "")", token: token)
        let sections = try #require(vision.json?["sections"] as? [[String: Any]])
        #expect(sections[0]["text"] as? String == "First sentence is here. Second sentence is here too.")
    }

    @Test("Tokens in status equal the provider's usage; the cost is estimated from the prices")
    func tokensAndCost() throws {
        let (stack, model, token, id) = try job("none")
        let final = try completedWithTwelve(stack, id, token)
        let calls = model.calls(forJob: id)
        #expect(calls.count == 12)
        let prompt = calls.reduce(0) { $0 + (($1["usage"] as? [String: Int])?["prompt_tokens"] ?? 0) }
        let completion = calls.reduce(0) { $0 + (($1["usage"] as? [String: Int])?["completion_tokens"] ?? 0) }
        let tokens = try #require(final["tokens"] as? [String: Int])
        #expect(tokens == ["prompt": prompt, "completion": completion, "total": prompt + completion])
        let fun = try #require(category(final, "fun")["tokens"] as? [String: Int])
        #expect(fun["completion"] == (calls.first { idempotencyKey($0)?.contains("-fun-") == true }?["usage"] as? [String: Int])?["completion_tokens"])
        let cost = try #require(final["estimatedCost"] as? Double)
        #expect(abs(cost - (Double(prompt) * 0.15 + Double(completion) * 0.60) / 1_000_000) < 1e-6)
    }

    @Test("The request is the documented chat-completions call: body, headers, key, idempotency key, user hash")
    func requestIsAsDocumented() throws {
        let (stack, model, token, id) = try job("none")
        _ = try completedWithTwelve(stack, id, token)
        let call = try #require(calls(model, id, "health").first)
        #expect(call["path"] as? String == "/v1/chat/completions")
        let headers = try #require(call["headers"] as? [String: String])
        #expect(headers["authorization"] == "Bearer \(Self.apiKey)")
        #expect(headers["content-type"] == "application/json")
        #expect(headers["idempotency-key"] == "\(id)-health-1")
        let body = try #require(call["body"] as? [String: Any])
        #expect(Set(body.keys) == ["model", "messages", "temperature", "max_tokens", "stream", "stream_options", "user"])
        #expect(body["model"] as? String == "standin-model")
        #expect(body["stream"] as? Bool == true)
        #expect((body["stream_options"] as? [String: Bool])?["include_usage"] == true)
        let messages = try #require(body["messages"] as? [[String: String]])
        #expect(messages.map { $0["role"] } == ["system", "user"])
        #expect(messages[1]["content"]?.contains("Run a marathon") == true, "the category's own notes")
        #expect(messages[1]["content"]?.contains("Painting on Sundays") == true, "the other categories' notes as context")
        let user = try #require(body["user"] as? String)
        #expect(user.count == 32 && !user.contains("fault-"), "a hash of the user id, not the id")
    }

    @Test("kill -9 of the worker mid-stream: written once, by a later attempt with a new idempotency key")
    func killedMidStream() throws {
        let (stack, model) = try Self.makeStack()
        defer {
            stack.stop()
            model.process.stop()
        }
        let token = stack.token(for: "fault-killed-mid-stream")
        let id = try stack.createJob(token: token, answers: ["fun": "Painting on Sundays [[fault:killme:8]]", "health": "Run a marathon"])
        try stack.auditOutputWrites()
        // The worker holding the category is named in its lease; kill it once the stream runs.
        var owner: pid_t?
        let deadline = Date().addingTimeInterval(30)
        while owner == nil && Date() < deadline {
            let row = try stack.categoryRows(id).first { $0.key == "fun" && $0.status == "running" }
            if let lease = row?.leaseOwner, calls(model, id, "fun").isEmpty, (try model.stats()["inFlight"] as? Int ?? 0) > 0 {
                owner = lease.split(separator: " ").last.flatMap { pid_t($0) }
            }
            usleep(100_000)
        }
        let pid = try #require(owner)
        #expect(kill(pid, SIGKILL) == 0)
        let final = try stack.waitForJob(id, token: token, timeout: 150)
        #expect(final["status"] as? String == "completed")
        #expect(category(final, "fun")["attempts"] as? Int == 2)
        let keys = calls(model, id, "fun").compactMap(idempotencyKey)
        #expect(keys == ["\(id)-fun-1", "\(id)-fun-2"])
        #expect(try stack.outputWrites()[id]?[0] == 1, "the category's text was stored once")
    }
}

/// The machine-wide cap on model calls in flight, on a stack of its own.
@Suite("Generation: the global cap on model calls")
struct ModelCallCapTests {
    @Test("Never more calls in flight than VQ_LLM_MAX_CONCURRENT, across every process, and the cap is reached")
    func capHolds() throws {
        let model = try StandInModelServer(streamSeconds: 0.6)
        let stack = try Stack.start(
            .init(environment: [
                "VQ_GENERATOR": "openai", "VQ_LLM_BASE_URL": model.baseURL, "VQ_LLM_MAX_CONCURRENT": "3",
                "VQ_MAX_CONCURRENT_CATEGORIES": "16", "VQ_MAX_ACTIVE_JOBS": "100", "VQ_MAX_CREATES_PER_HOUR": "1000",
            ]))
        defer {
            stack.stop()
            model.process.stop()
        }
        let jobs = try (0..<6).map { index in
            let token = stack.token(for: "cap-\(index)")
            return (try stack.createJob(token: token, answers: ["fun": "Dance"]), token)
        }
        for (id, token) in jobs {
            let final = try stack.waitForJob(id, token: token, timeout: 120)
            #expect(final["status"] as? String == "completed")
        }
        let stats = try model.stats()
        #expect(stats["maxInFlight"] as? Int == 3, "\(stats)")
        #expect(stats["calls"] as? Int == 72)
    }
}

/// `VQ_ASSEMBLY=model`: the model writes an opening and a closing around the sections; when it
/// cannot, the vision is joined mechanically and says so.
@Suite("Generation: assembly by the model")
struct ModelAssemblyTests {
    static let setup = Result { () throws -> (Stack, StandInModelServer) in
        let model = try StandInModelServer(streamSeconds: 0.1)
        let stack = try Stack.start(
            .init(environment: [
                "VQ_GENERATOR": "openai", "VQ_LLM_BASE_URL": model.baseURL, "VQ_ASSEMBLY": "model", "VQ_RETRY_BASE_MS": "100",
                "VQ_MAX_ACTIVE_JOBS": "10",
            ]))
        return (stack, model)
    }

    private func vision(_ stack: Stack, _ token: String, _ final: [String: Any]) throws -> String {
        let vision = try stack.client.get("/api/visions?id=\(final["visionId"] as? String ?? "")", token: token)
        return try #require(vision.json?["document"] as? String)
    }

    @Test("The opening comes before the first section and the closing after the last; its tokens count")
    func framesTheVision() throws {
        let (stack, model) = try Self.setup.get()
        let token = stack.token(for: "framed")
        let id = try stack.createJob(token: token, answers: ["fun": "Kites"])
        let final = try stack.waitForJob(id, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
        #expect(final["assemblyNote"] is NSNull)
        let document = try vision(stack, token, final)
        let opening = try #require(document.range(of: "My life is full and my own."))
        let firstSection = try #require(document.range(of: "## Fun"))
        let closing = try #require(document.range(of: "Every part of it fits together."))
        let lastSection = try #require(document.range(of: "## Spirituality"))
        #expect(opening.lowerBound < firstSection.lowerBound && closing.lowerBound > lastSection.lowerBound)
        let calls = model.calls(forJob: id)
        #expect(calls.count == 13, "12 sections and the assembly")
        let completion = calls.reduce(0) { $0 + (($1["usage"] as? [String: Int])?["completion_tokens"] ?? 0) }
        #expect((final["tokens"] as? [String: Int])?["completion"] == completion)
    }

    @Test("When the model cannot frame it, the vision is joined mechanically and says so")
    func fallsBackToMechanical() throws {
        let (stack, model) = try Self.setup.get()
        let token = stack.token(for: "unframed")
        let id = try stack.createJob(token: token, answers: ["fun": "Kites [[fault:noframe]]"])
        let final = try stack.waitForJob(id, token: token, timeout: 60)
        #expect(final["status"] as? String == "completed")
        let note = try #require(final["assemblyNote"] as? String)
        #expect(note.contains("could not be written by the model"))
        let document = try vision(stack, token, final)
        #expect(document.contains(note), "the vision says so")
        #expect(!document.contains("My life is full"))
        let assembly = model.calls(forJob: id).filter { ($0["headers"] as? [String: String])?["idempotency-key"]?.contains("-assembly-") == true }
        #expect(assembly.count == 3, "tried as often as a category (VQ_MAX_ATTEMPTS), then given up")
    }
}
