import Foundation
import Testing
@testable import VisionQueue

/// A whole job written by a real language model: llama.cpp's server with Gemma 3 270M
/// (`scripts/model-server`, built once per machine), through the real stack. Between the two sits
/// the stand-in in proxy mode, which only forwards and records the usage the server reported on
/// the wire, so the service's token counts are checked against the server's own.
///
/// The model is a small base model that echoes its prompt: its text is real tokens, not good
/// prose, so nothing here reads its content, only its shape. The stack is given prompts that put
/// the category's notes first (`Tests/Fixtures/echo-prompts`), so what it writes starts from them
/// and a rewrite with new notes writes something new.
@Suite("Generation: a real model server", .serialized)
struct ModelServerTests {
    static let setup = Result { () throws -> (Stack, StandInModelServer, LocalModelServer) in
        let llama = try LocalModelServer()
        let recorder = try StandInModelServer(proxy: llama.baseURL)
        let stack = try Stack.start(
            .init(environment: [
                "VQ_GENERATOR": "openai", "VQ_LLM_BASE_URL": recorder.baseURL, "VQ_LLM_MODEL": "gemma-3-270m",
                // About 3-5 s a category at 40-60 tokens/s: long enough for the text so far (saved every
                // 2 s) to be seen growing, short enough for CI.
                "VQ_LLM_MAX_TOKENS": "200", "VQ_LLM_TEMPERATURE": "0", "VQ_LLM_TIMEOUT_SECONDS": "120",
                "VQ_LLM_MAX_CONCURRENT": "2", "VQ_PROMPTS_DIR": Stack.repositoryRoot + "/Tests/Fixtures/echo-prompts",
            ]))
        return (stack, recorder, llama)
    }

    static let notes = [
        "fun": "Salsa on Fridays and long bike rides", "health": "I want to run a half marathon and sleep eight hours",
        "work": "Lead a small team that builds tools people love", "home": "A bright flat near a park",
    ]

    private func category(_ status: [String: Any], _ key: String) -> [String: Any] {
        (status["categories"] as? [[String: Any]])?.first { $0["key"] as? String == key } ?? [:]
    }

    @Test("A job is written by the model: 12 sections, live text while it writes, tokens as the server counted them, one section rewritten")
    func aWholeJob() throws {
        let (stack, recorder, _) = try Self.setup.get()
        let token = stack.token(for: "model-user")
        let jobID = try stack.createJob(token: token, answers: Self.notes)

        // Poll as the page does, only faster: keep every text-so-far seen, per category.
        var partials: [String: [String]] = [:]
        var final: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline {
            final = try stack.status(jobID, token: token)
            for item in final["categories"] as? [[String: Any]] ?? [] {
                if let key = item["key"] as? String, let text = item["partialText"] as? String, !text.isEmpty {
                    partials[key, default: []].append(text)
                }
            }
            if Stack.isFinal(final) { break }
            usleep(200_000)
        }
        #expect(final["status"] as? String == "completed", "\(final)")
        #expect(final["categoriesCompleted"] as? Int == 12, "\(final)")

        let visionID = try #require(final["visionId"] as? String)
        let vision = try stack.client.get("/api/visions?id=\(visionID)", token: token).json ?? [:]
        let sections = (vision["sections"] as? [[String: Any]] ?? []).map { $0["text"] as? String ?? "" }
        #expect(sections.count == 12)
        #expect(Set(sections).count == 12, "each section is written for its own category")
        for (index, category) in VisionCategory.allCases.enumerated() where index < sections.count {
            #expect(!sections[index].isEmpty, "\(category.key) is empty")
            let builtIn = BuiltInGenerator.paragraph(for: category, notes: Self.notes[category.key] ?? "")
            #expect(sections[index] != builtIn, "\(category.key) is the built-in generator's text")
        }

        // The text seen mid-category is the start of what was stored (stored text may be cut back
        // to its last full sentence, so compare the part both have).
        #expect(!partials.isEmpty, "no status poll saw a section being written")
        let grown = partials.contains { key, seen in
            guard let position = VisionCategory(rawValue: key)?.position, position < sections.count else { return false }
            let stored = sections[position]
            return seen.contains { partial in
                let common = min(partial.count, stored.count, 40)
                return common >= 10 && partial.prefix(common) == stored.prefix(common) && partial.count < stored.count + 200
            }
        }
        #expect(grown, "no partial text grew into its stored section: \(partials.mapValues { $0.map { $0.prefix(40) } })")

        // Tokens: the service's counts are the server's own, summed per category and per job.
        let calls = recorder.calls(forJob: jobID)
        func usage(_ calls: [[String: Any]]) -> (Int, Int) {
            calls.reduce((0, 0)) { sum, call in
                let used = call["usage"] as? [String: Int] ?? [:]
                return (sum.0 + (used["prompt_tokens"] ?? 0), sum.1 + (used["completion_tokens"] ?? 0))
            }
        }
        let (prompt, completion) = usage(calls)
        #expect(prompt > 0 && completion > 0)
        #expect(final["tokens"] as? [String: Int] == ["prompt": prompt, "completion": completion, "total": prompt + completion])
        for category in VisionCategory.allCases {
            let own = calls.filter { ($0["headers"] as? [String: String])?["idempotency-key"]?.contains("-\(category.key)-") == true }
            let (p, c) = usage(own)
            #expect(self.category(final, category.key)["tokens"] as? [String: Int] == ["prompt": p, "completion": c, "total": p + c], "\(category.key)")
        }

        // Rewrite one section with new notes: only it changes.
        let rewrite = try stack.client.postJSON(
            "/api/vision-jobs/regenerate", ["jobId": jobID, "category": "work", "answer": "Teach woodworking to teenagers"], token: token)
        #expect(rewrite.status == 200, "\(rewrite)")
        let again = try stack.waitForJob(jobID, token: token, timeout: 300)
        #expect(again["status"] as? String == "completed")
        let second = try stack.client.get("/api/visions?id=\(visionID)", token: token).json ?? [:]
        let rewritten = (second["sections"] as? [[String: Any]] ?? []).map { $0["text"] as? String ?? "" }
        let work = VisionCategory.work.position
        for index in 0..<12 where index != work { #expect(rewritten[index] == sections[index], "section \(index) changed") }
        #expect(rewritten[work] != sections[work], "the rewritten section did not change")
        #expect(second["version"] as? Int == 2)
    }
}
