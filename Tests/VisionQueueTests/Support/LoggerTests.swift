import Testing
@testable import VisionQueue

@Suite("Log lines")
struct LoggerTests {
    @Test("Text: time, binary and pid, level, message")
    func text() {
        let line = Logger(label: "vision-process").line(.warning, "a message", now: 1_700_000_000_000, pid: 42)
        #expect(String(decoding: line, as: UTF8.self) == "2023-11-14T22:13:20.000Z vision-process[42] warning: a message\n")
    }

    @Test("JSON: one object per line, with the job and category a line is about, any message escaped")
    func json() throws {
        let log = Logger(label: "vision-process", format: .json)
        let plain = String(decoding: log.line(.info, "started", now: 1_700_000_000_000, pid: 42), as: UTF8.self)
        #expect(plain == #"{"time":"2023-11-14T22:13:20.000Z","level":"info","binary":"vision-process","pid":42,"message":"started"}"# + "\n")
        let job = try #require(JobID("01a250fe-0e9e-71c6-9be5-d083c6724753"))
        let about = log.about(job: job, category: .health)
        let line = String(decoding: about.line(.error, "a \"quoted\"\nline", now: 1_700_000_000_000, pid: 42), as: UTF8.self)
        #expect(line == #"{"time":"2023-11-14T22:13:20.000Z","level":"error","binary":"vision-process","pid":42,"message":"a \"quoted\"\nline","jobId":"01a250fe-0e9e-71c6-9be5-d083c6724753","category":"health"}"# + "\n")
        #expect(line.filter { $0 == "\n" }.count == 1, "one line, however many lines the message has")
    }

    @Test("VQ_LOG_FORMAT takes text or json and nothing else")
    func setting() throws {
        #expect(try VisionQueueConfiguration(environment: [:]).logFormat == .text)
        #expect(try VisionQueueConfiguration(environment: ["VQ_LOG_FORMAT": "json"]).logFormat == .json)
        #expect(throws: ConfigurationError.self) { try VisionQueueConfiguration(environment: ["VQ_LOG_FORMAT": "xml"]) }
    }
}
