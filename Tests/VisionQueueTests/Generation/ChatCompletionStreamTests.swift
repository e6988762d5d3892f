import Testing
@testable import VisionQueue

@Suite("ChatCompletionStream")
struct ChatCompletionStreamTests {
    /// The events' data of a real llama.cpp server stream (`stream_options.include_usage`).
    static let llamaCpp = [
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","system_fingerprint":"b3000","object":"chat.completion.chunk"}"#,
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"I wake"}}],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","object":"chat.completion.chunk"}"#,
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" early, \"rested\"\nand calm."}}],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","object":"chat.completion.chunk"}"#,
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" Café ☕"}}],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","object":"chat.completion.chunk"}"#,
        #"{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","object":"chat.completion.chunk"}"#,
        #"{"choices":[],"created":1718000000,"id":"chatcmpl-abc","model":"qwen2.5-0.5b","object":"chat.completion.chunk","usage":{"completion_tokens":17,"prompt_tokens":245,"total_tokens":262},"timings":{"prompt_n":245,"predicted_n":17}}"#,
        "[DONE]",
    ]

    /// OpenAI's shape: `usage: null` on every chunk but the last, `refusal: null`, `logprobs: null`.
    static let openAI = [
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"My home"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" is full of light."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null}"#,
        #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":300,"completion_tokens":600,"total_tokens":900,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        "[DONE]",
    ]

    private func read(_ events: [String]) throws -> ChatCompletionStream {
        var stream = ChatCompletionStream()
        for event in events { try stream.read(event) }
        return stream
    }

    // MARK: - Reading chunks

    @Test func aChunkWithANullErrorIsAnOrdinaryChunk() throws {
        let stream = try read([#"{"choices":[{"index":0,"delta":{"content":"Calm."},"finish_reason":"stop"}],"error":null}"#])
        #expect(stream.text == "Calm.")
        #expect(stream.finishReason == "stop")
    }

    @Test func aLlamaCppStreamAccumulatesTextFinishReasonAndUsage() throws {
        let stream = try read(Self.llamaCpp)
        #expect(stream.text == "I wake early, \"rested\"\nand calm. Café ☕")
        #expect(stream.finishReason == "stop")
        #expect(stream.usage == TokenUsage(promptTokens: 245, completionTokens: 17))
        #expect(stream.refusal == "")
        #expect(stream.done)
    }

    @Test func theFinishReasonIsNotSetBeforeItsChunkNorDoneBeforeDONE() throws {
        let stream = try read(Array(Self.llamaCpp.prefix(4)))
        #expect(stream.text == "I wake early, \"rested\"\nand calm. Café ☕")
        #expect(stream.finishReason == nil)
        #expect(stream.usage == nil)
        #expect(!stream.done)
    }

    @Test func anOpenAIStreamAccumulatesTextFinishReasonAndUsage() throws {
        let stream = try read(Self.openAI)
        #expect(stream.text == "My home is full of light.")
        #expect(stream.finishReason == "length")
        #expect(stream.usage == TokenUsage(promptTokens: 300, completionTokens: 600))
        #expect(stream.refusal == "")
        #expect(stream.done)
    }

    @Test func refusalDeltasAccumulate() throws {
        let stream = try read([
            #"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":"I can't"}}]}"#,
            #"{"choices":[{"index":0,"delta":{"refusal":" help with that."}}]}"#,
            #"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ])
        #expect(stream.refusal == "I can't help with that.")
        #expect(stream.text == "")
    }

    @Test func anErrorObjectMidStreamThrowsItsMessage() throws {
        var stream = ChatCompletionStream()
        try stream.read(Self.llamaCpp[1])
        let error = #expect(throws: ChatCompletionStream.ProviderError.self) {
            try stream.read(#"{"error":{"message":"The server is overloaded, try again later","type":"server_error","code":503}}"#)
        }
        #expect(error?.message == "The server is overloaded, try again later")
    }

    @Test func aBareStringErrorIsItsOwnMessageAndAnErrorWithoutOneIsStillAnError() throws {
        var stream = ChatCompletionStream()
        let bare = #expect(throws: ChatCompletionStream.ProviderError.self) { try stream.read(#"{"error":"context size exceeded"}"#) }
        #expect(bare?.message == "context size exceeded")
        let unnamed = #expect(throws: ChatCompletionStream.ProviderError.self) { try stream.read(#"{"error":{"code":500}}"#) }
        #expect(unnamed?.message.isEmpty == false)
    }

    @Test(arguments: ["not json", "{\"choices\":[", "", "data: {}", "{\"a\":1}{\"b\":2}"])
    func nonJSONDataIsMalformed(_ data: String) throws {
        var stream = ChatCompletionStream()
        #expect(throws: ChatCompletionStream.Malformed.self) { try stream.read(data) }
    }

    @Test(arguments: ["[1,2]", "\"text\"", "42", "null", #"{"choices":{"index":0}}"#, #"{"choices":["text"]}"#])
    func jsonThatIsNotAChunkIsMalformed(_ data: String) throws {
        var stream = ChatCompletionStream()
        #expect(throws: ChatCompletionStream.Malformed.self) { try stream.read(data) }
    }

    // MARK: - A whole answer

    @Test func fromWholeAnswerReadsANonStreamedCompletion() throws {
        let body = #"""
            {"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4o-mini",
             "choices":[{"index":0,"message":{"role":"assistant","content":"I travel by train.","refusal":null},
                         "logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":120,"completion_tokens":5,"total_tokens":125}}
            """#
        let stream = try #require(ChatCompletionStream.fromWholeAnswer(Array(body.utf8)))
        #expect(stream.text == "I travel by train.")
        #expect(stream.finishReason == "stop")
        #expect(stream.usage == TokenUsage(promptTokens: 120, completionTokens: 5))
        #expect(stream.refusal == "")
        #expect(stream.done)
        #expect(CompletedAnswer.decide(stream).map { $0.text } == .success("I travel by train."))
    }

    @Test func fromWholeAnswerReadsARefusal() throws {
        let body = #"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}]}"#
        let stream = try #require(ChatCompletionStream.fromWholeAnswer(Array(body.utf8)))
        #expect(stream.refusal == "I can't.")
        #expect(stream.usage == nil)
        #expect(throws: (any Error).self) { try CompletedAnswer.decide(stream).get() }
    }

    @Test(arguments: ["", "<html>502 Bad Gateway</html>", #"{"choices":[]}"#, #"{"error":{"message":"x"}}"#, "[]"])
    func fromWholeAnswerIsNilForAnythingElse(_ body: String) {
        #expect(ChatCompletionStream.fromWholeAnswer(Array(body.utf8)) == nil)
    }

    // MARK: - CompletedAnswer.decide

    private func stream(text: String, finishReason: String? = "stop", done: Bool = true, refusal: String = "") throws -> ChatCompletionStream {
        var stream = ChatCompletionStream()
        var events = [#"{"choices":[{"index":0,"delta":{"content":\#(Self.jsonString(text))}}]}"#]
        if !refusal.isEmpty { events.append(#"{"choices":[{"index":0,"delta":{"refusal":\#(Self.jsonString(refusal))}}]}"#) }
        if let finishReason { events.append(#"{"choices":[{"index":0,"delta":{},"finish_reason":"\#(finishReason)"}]}"#) }
        if done { events.append("[DONE]") }
        for event in events { try stream.read(event) }
        return stream
    }

    private static func jsonString(_ text: String) -> String {
        var json = JSONWriter(capacity: 64)
        json.string(text)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func kept(_ stream: ChatCompletionStream) -> (text: String, truncated: Bool)? {
        try? CompletedAnswer.decide(stream).get()
    }

    @Test func aStreamCutWithoutFinishReasonOrDoneFails() throws {
        let cut = try stream(text: "I run every morning. I sleep well.", finishReason: nil, done: false)
        let result = CompletedAnswer.decide(cut)
        #expect(kept(cut) == nil)
        if case .failure(let error) = result {
            #expect(error.kind == .attemptFailed)
            #expect(error.message.contains("ended before"))
        }
    }

    @Test func aFinishReasonWithoutDoneOrDoneWithoutFinishReasonIsComplete() throws {
        #expect(try kept(stream(text: "I run.", finishReason: "stop", done: false))?.text == "I run.")
        #expect(try kept(stream(text: "I run.", finishReason: nil, done: true))?.text == "I run.")
    }

    @Test func aContentFilterFails() throws {
        let filtered = try stream(text: "I run every morning.", finishReason: "content_filter")
        #expect(kept(filtered) == nil)
        guard case .failure(let error) = CompletedAnswer.decide(filtered) else { return }
        #expect(error.kind == .attemptFailed)
        #expect(error.message.contains("declined"))
    }

    @Test func aRefusalFailsEvenWithText() throws {
        let refused = try stream(text: "I run every morning.", refusal: "I can't help with that.")
        #expect(kept(refused) == nil)
        // A refusal of only white space is no refusal.
        #expect(try kept(stream(text: "I run every morning.", refusal: " \n"))?.text == "I run every morning.")
    }

    @Test(arguments: ["", "   ", "\n\n\t "])
    func anEmptyAnswerFails(_ text: String) throws {
        let empty = try stream(text: text)
        #expect(kept(empty) == nil)
        guard case .failure(let error) = CompletedAnswer.decide(empty) else { return }
        #expect(error.message.contains("empty"))
    }

    @Test func stopKeepsTheTextTrimmedAndNotTruncated() throws {
        let answer = try #require(try kept(stream(text: "\n  I live by the sea. And I swim daily\n\n", finishReason: "stop")))
        #expect(answer.text == "I live by the sea. And I swim daily")
        #expect(!answer.truncated)
    }

    @Test(arguments: [
        ("I live by the sea. I swim every day and", "I live by the sea."),
        ("Do I love it? Yes! Every single", "Do I love it? Yes!"),
        ("I say \"I am home.\" Then I", "I say \"I am home.\""),
        ("She said: “I’m proud of you.” And we", "She said: “I’m proud of you.”"),
        ("I run (every day.) Then", "I run (every day.)"),
        ("I am *free.* My", "I am *free.*"),
        ("I earn 3.5 times what I did. My savings grow by 2.5", "I earn 3.5 times what I did."),
        ("I wait… Then I go", "I wait…"),
        ("My first sentence.\nMy second sentence.\nMy third", "My first sentence.\nMy second sentence."),
        ("I rest.", "I rest."),
    ])
    func lengthTrimsToTheLastCompleteSentence(_ text: String, _ expected: String) throws {
        let answer = try #require(try kept(stream(text: text, finishReason: "length")))
        #expect(answer.text == expected)
        #expect(answer.truncated)
    }

    @Test(arguments: ["I earn 3.5 times what I", "I have a dream that one day", "e.g.x and", "My version is 1.2"])
    func lengthWithoutACompleteSentenceFails(_ text: String) throws {
        let cut = try stream(text: text, finishReason: "length")
        #expect(kept(cut) == nil)
        guard case .failure(let error) = CompletedAnswer.decide(cut) else { return }
        #expect(error.kind == .attemptFailed)
        #expect(error.message.contains("token limit"))
    }
}
