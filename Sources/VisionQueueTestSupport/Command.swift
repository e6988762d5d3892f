import Foundation

/// A helper command the tests run (initdb, chown, the model-server script, a one-shot sweep),
/// its output collected in a file rather than a pipe.
///
/// Why a file: the tests start servers from other threads at the same time (posix_spawn, which
/// passes on every descriptor), and a server started while a command runs inherits the write end
/// of that command's pipe; reading the pipe to its end then never returns. Seen once: a webhook
/// receiver started during `chown` kept a whole test run waiting.
public final class Command: @unchecked Sendable {
    private let process = Process()
    private let outputPath: String
    private let output: FileHandle

    /// Starts it; `environment` nil keeps this process's.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("vq-command-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: outputPath, contents: nil),
            let output = FileHandle(forWritingAtPath: outputPath)
        else { throw CommandError(description: "cannot create \(outputPath)") }
        self.output = output
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Waits for it to end: its exit status and everything it printed.
    public func wait() -> (status: Int32, output: String) {
        process.waitUntilExit()
        try? output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outputPath)
        return (process.terminationStatus, text)
    }

    /// Runs it to its end.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> (status: Int32, output: String)
    {
        try Command(executable, arguments, environment: environment).wait()
    }
}

public struct CommandError: Error, CustomStringConvertible {
    public var description: String
}
