import Foundation
import Testing

@Suite("Logs for shippers")
struct LogFormatTests {
    @Test("VQ_LOG_FORMAT=json: every line of every binary is one JSON object; a failed attempt names its job and category")
    func jsonLines() throws {
        let stack = try Stack.start(.init(environment: ["VQ_LOG_FORMAT": "json", "VQ_FAULT_FAIL": "health:1", "VQ_RETRY_BASE_MS": "50"]))
        defer { stack.stop() }
        let token = stack.token(for: "log-user")
        let job = try stack.createJob(token: token)
        #expect(try stack.waitForJob(job, token: token)["status"] as? String == "completed")
        var failedAttempt: [String: Any]?
        for binary in ["vision-create", "vision-process", "vision-status"] {
            let lines = stack.logText(binary).split(separator: "\n")
            #expect(!lines.isEmpty, "\(binary) logged its start")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "\(binary): not one JSON object: \(line)")
                guard let object else { continue }
                #expect(object["binary"] as? String == binary)
                #expect(["debug", "info", "warning", "error"].contains(object["level"] as? String ?? ""))
                #expect((object["time"] as? String)?.hasSuffix("Z") == true)
                if (object["message"] as? String)?.contains("attempt 1 of health") == true { failedAttempt = object }
            }
        }
        let attempt = try #require(failedAttempt, "the failed attempt was logged")
        #expect(attempt["level"] as? String == "warning")
        #expect(attempt["jobId"] as? String == job)
        #expect(attempt["category"] as? String == "health")
    }
}
