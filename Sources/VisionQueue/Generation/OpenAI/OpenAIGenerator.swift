import Glibc

/// Writes sections with a language model through the chat-completions API that OpenAI,
/// llama.cpp's server, Ollama, vLLM and LM Studio all serve, streaming each answer
/// (`stream: true`, usage included) so the page can show it as it is written.
///
/// Failures are sorted the way a provider's misbehaviour asks (`ProviderReply`,
/// `CompletedAnswer`): a rate limit waits for its `Retry-After` inside the attempt, holding the
/// category's lease; a transient failure fails the attempt (retried with backoff); a refused
/// configuration fails the job at once. The API key never leaves the `Authorization` header.
public struct OpenAIGenerator: VisionGenerator {
    public let settings: ModelSettings
    public let prompts: Prompts
    private let slots: ModelCallSlots
    private let redactor: SecretRedactor
    private let log: Logger

    /// - Parameter slotDirectory: where the machine-wide call slots live (the socket folder).
    public init(settings: ModelSettings, prompts: Prompts, slotDirectory: String, log: Logger) {
        self.settings = settings
        self.prompts = prompts
        slots = ModelCallSlots(count: settings.maxConcurrent, directory: slotDirectory)
        redactor = SecretRedactor([settings.apiKey])
        self.log = log
    }

    public func write(_ request: GenerationRequest, progress: GenerationProgress) throws(GenerationError) -> Generation {
        try complete(
            ChatCompletionRequest(
                system: prompts.systemMessage, user: prompts.categoryMessage(request),
                idempotencyKey: "\(request.jobID)-\(request.category.key)-\(request.totalAttempts)", userID: request.userID),
            deadline: request.deadline, progress: progress)
    }

    /// The opening and closing paragraphs around the sections (`VQ_ASSEMBLY=model`).
    public func frame(
        sections: [VisionCategory: String], jobID: JobID, userID: String, attempt: Int, deadline: EpochMillis,
        progress: GenerationProgress
    ) throws(GenerationError) -> (framing: VisionFraming, generation: Generation) {
        let generation = try complete(
            ChatCompletionRequest(
                system: prompts.systemMessage, user: prompts.assemblyMessage(sections: sections),
                idempotencyKey: "\(jobID)-assembly-\(attempt)", userID: userID),
            deadline: deadline, progress: progress)
        guard let framing = VisionFraming(modelText: generation.text) else {
            throw GenerationError("The model's opening and closing could not be told apart.", reason: .framing, usage: generation.usage)
        }
        return (framing, generation)
    }

    /// One call, repeated after each `Retry-After` wait (up to `maxWaits`), until it gives an
    /// answer or fails.
    private func complete(
        _ call: ChatCompletionRequest, deadline: EpochMillis, progress: GenerationProgress
    ) throws(GenerationError) -> Generation {
        var waits = 0
        let spent = TokenUsage.zero
        var latency: Int64 = 0
        while true {
            guard !progress.shouldStop else { throw GenerationError("The work was no longer wanted.", reason: .stopped, usage: spent, latencyMillis: latency) }
            let acquired: ModelCallSlots.Slot?
            do throws(ModelCallSlots.Unavailable) {
                acquired = try slots.acquire(until: deadline, unless: { progress.shouldStop })
            } catch {
                throw GenerationError("The model call slots cannot be used: \(error.reason).", reason: .noSlot)
            }
            guard let slot = acquired else {
                throw GenerationError("No model call slot came free before the deadline (VQ_LLM_MAX_CONCURRENT).", reason: .noSlot)
            }
            let started = Clock.now()
            let result = stream(call, waitsSoFar: waits, progress: progress)
            slot.release()
            latency += Clock.now() - started
            switch result {
            case .answered(let text, let truncated, let usage):
                return Generation(text: text, usage: spent + usage, latencyMillis: latency, truncated: truncated)
            case .failed(var error):
                error.usage = error.usage + spent
                error.latencyMillis = latency
                error.message = redactor.redact(error.message)
                throw error
            case .wait(let millis, let reason):
                waits += 1
                let until = Clock.now() + millis
                guard waits <= settings.maxWaits else {
                    throw GenerationError("The model stayed \(reason) through \(settings.maxWaits) waits.", reason: .unavailable, latencyMillis: latency)
                }
                guard millis <= Int64(settings.maxWaitSeconds) * 1000, until < deadline else {
                    throw GenerationError("The model is \(reason) for \(millis / 1000) s, longer than this attempt may wait.", reason: .unavailable, latencyMillis: latency)
                }
                log.info("model \(reason); waiting \(millis / 1000) s before calling again (\(call.idempotencyKey))")
                progress.waiting(until: until, reason: reason)
                while Clock.now() < until && !progress.shouldStop { usleep(useconds_t(min(until - Clock.now(), 1_000) * 1000)) }
            }
        }
    }

    private enum CallResult {
        case answered(text: String, truncated: Bool, usage: TokenUsage)
        case wait(millis: Int64, reason: String)
        case failed(GenerationError)
    }

    /// Makes the call and reads its answer as it streams.
    private func stream(_ call: ChatCompletionRequest, waitsSoFar: Int, progress: GenerationProgress) -> CallResult {
        var events = ServerSentEventParser()
        var completion = ChatCompletionStream()
        var streamError: GenerationError?
        var errorBody: [UInt8] = []
        var isStream: Bool?
        let post = StreamingPost { status, bytes in
            guard status == 200 else {
                if errorBody.count < 65_536 { errorBody += bytes.prefix(65_536 - errorBody.count) }
                return true
            }
            if isStream == nil {
                guard let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else { return true }
                isStream = first != UInt8(ascii: "{")
            }
            guard !progress.shouldStop else { return false }
            guard isStream == true else {
                // A provider that ignored `stream: true` and answered with one JSON object.
                guard errorBody.count + bytes.count <= 4 << 20 else {
                    streamError = GenerationError("The model's answer is larger than 4 MB.", reason: .tooLarge)
                    return false
                }
                errorBody += bytes
                return true
            }
            do {
                let before = completion.text.utf8.count
                for data in try events.feed(bytes) { try completion.read(data) }
                if completion.text.utf8.count != before { progress.textSoFar(completion.text) }
                return true
            } catch let error as ChatCompletionStream.ProviderError {
                streamError = GenerationError("The model provider reported an error mid-stream: \(error.message)", reason: .providerError)
            } catch let error as ChatCompletionStream.Malformed {
                streamError = GenerationError("The model's stream could not be read: \(error.reason)", reason: .unreadable)
            } catch let error as ServerSentEventParser.Malformed {
                streamError = GenerationError("The model's stream could not be read: \(error.reason)", reason: .unreadable)
            } catch {
                streamError = GenerationError("The model's stream could not be read.", reason: .unreadable)
            }
            return false
        }
        let outcome = post.perform(
            StreamingPost.Settings(
                url: settings.completionsURL, headers: call.headers(settings), body: call.body(settings),
                timeoutMillis: settings.timeoutSeconds * 1000, stallSeconds: settings.stallSeconds))
        let spent = completion.usage ?? .zero
        if let streamError {
            var error = streamError
            error.usage = spent
            return .failed(error)
        }
        switch outcome.failure {
        case .timedOut?:
            return .failed(GenerationError("The model call took longer than \(settings.timeoutSeconds) s.", reason: .timeout, usage: spent))
        case .stalled?:
            return .failed(GenerationError("The model's stream stalled: nothing arrived for \(settings.stallSeconds) s.", reason: .stalled, usage: spent))
        case .connection(let reason)?:
            let what = outcome.status == 200 ? "The connection to the model dropped mid-answer" : "The model could not be reached"
            return .failed(GenerationError("\(what): \(reason).", reason: .connection, usage: spent))
        case .aborted?:
            return .failed(GenerationError("The model call was stopped.", reason: .stopped, usage: spent))
        case nil:
            break
        }
        guard outcome.status == 200 else {
            switch ProviderReply.verdict(
                status: outcome.status, retryAfter: outcome.headers["retry-after"], body: errorBody, now: Clock.now(),
                waitsSoFar: waitsSoFar, redactor: redactor)
            {
            case .waitAndRetry(let millis, let reason): return .wait(millis: millis, reason: reason)
            case .attemptFailed(let message): return .failed(GenerationError(message, reason: .providerError))
            case .configuration(let message): return .failed(.configuration(message))
            }
        }
        if isStream == false {
            guard let parsed = ChatCompletionStream.fromWholeAnswer(errorBody) else {
                return .failed(GenerationError("The model's answer could not be read.", reason: .unreadable))
            }
            completion = parsed
        }
        switch CompletedAnswer.decide(completion) {
        case .success(let answer): return .answered(text: answer.text, truncated: answer.truncated, usage: completion.usage ?? .zero)
        case .failure(var error):
            error.usage = completion.usage ?? .zero
            return .failed(error)
        }
    }
}
