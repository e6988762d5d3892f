import Foundation
import Testing
import VisionQueueTestSupport

/// Each binary stops cleanly on SIGTERM, and stopping the run command stops everything it started.
@Suite("Shutdown", .serialized)
struct ShutdownTests {
    @Test("SIGTERM makes each binary exit 0 within a few seconds; the supervisor starts a new one")
    func eachBinaryStopsOnSIGTERM() throws {
        let stack = try Stack.start()
        defer { stack.stop() }
        for binary in ["vision-create", "vision-process", "vision-status"] {
            let pid = try #require(stack.pid(of: binary))
            #expect(kill(pid, SIGTERM) == 0)
            let output = try waitForOutput(stack, containing: "(pid \(pid)) exited", seconds: 10)
            #expect(output.contains("\(binary) #1 (pid \(pid)) exited with status 0"), "\(output)")
        }
        // The replacements serve: a job still completes end to end.
        let token = stack.token(for: "after-restart")
        let jobID = try stack.createJob(token: token)
        #expect(try stack.waitForJob(jobID, token: token)["status"] as? String == "completed")
    }

    @Test("Creates in a loop across graceful restarts of vision-create: not one answer other than 201")
    func createsAcrossARestart() throws {
        let stack = try Stack.start(.init(environment: ["VQ_MAX_ACTIVE_JOBS": "100000", "VQ_MAX_CREATES_PER_HOUR": "100000"]))
        defer { stack.stop() }
        let statuses = ThreadSafeArray<Int>()
        let stop = Flag()
        let clients = DispatchGroup()
        for client in 0..<4 {
            DispatchQueue.global().async(group: clients) {
                let token = stack.token(for: "deploy-\(client)")
                while !stop.isSet {
                    let status = (try? stack.client.postJSON("/api/vision-jobs/create", ["answers": ["fun": "across a deploy"]], token: token).status) ?? 0
                    statuses.append(status)
                }
            }
        }
        // Ten deploys of vision-create: each process told to stop, the supervisor starting a new one.
        var restarted = 0
        for round in 0..<10 {
            usleep(150_000)
            let process = round % 2 + 1
            if let pid = stack.pid(of: "vision-create", process: process), kill(pid, SIGTERM) == 0 {
                restarted += 1
                _ = try? waitForOutput(stack, containing: "(pid \(pid)) exited", seconds: 10)
            }
        }
        usleep(400_000)
        stop.set()
        clients.wait()
        let all = statuses.values
        #expect(restarted == 10)
        #expect(all.count > 100, "the clients kept creating: \(all.count)")
        let failures = Dictionary(grouping: all.filter { $0 != 201 }, by: { $0 }).mapValues(\.count)
        #expect(failures.isEmpty, "answers other than 201 during the restarts: \(failures) of \(all.count)")
    }

    @Test("SIGTERM to the run command stops nginx and every binary")
    func launcherStopsEverything() throws {
        let stack = try Stack.start()
        let pids = ["vision-create", "vision-process", "vision-status"].flatMap { binary in
            [1, 2].compactMap { stack.pid(of: binary, process: $0) }
        }
        let nginxPID = try String(contentsOfFile: stack.dataDirectory + "/nginx/nginx.pid", encoding: .utf8)
        let all = pids + [pid_t(nginxPID.trimmingCharacters(in: .whitespacesAndNewlines))!]
        #expect(all.count == 7)
        kill(stack.launcherPID, SIGTERM)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(15)
        var exited = false
        while Date() < deadline {
            if waitpid(stack.launcherPID, &status, WNOHANG) == stack.launcherPID { exited = true; break }
            usleep(50_000)
        }
        #expect(exited)
        #expect(status == 0, "launcher exit status \(status)")
        for pid in all { #expect(!Self.isRunning(pid), "pid \(pid) still running") }
        #expect(throws: (any Error).self) { try stack.client.get("/") }
    }

    @Test("kill -9 of the run command: the FastCGI binaries and nginx notice and stop by themselves, and the port is free again")
    func everythingStopsWhenTheSupervisorIsKilled() throws {
        let stack = try Stack.start()
        defer { stack.killEverything() }
        let pids = ["vision-create", "vision-process", "vision-status"].compactMap { stack.pid(of: $0) }
        #expect(pids.count == 3)
        let nginx = try #require(Self.nginxMaster(stack))
        kill(stack.launcherPID, SIGKILL)
        var status: Int32 = 0
        waitpid(stack.launcherPID, &status, 0)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && (pids + [nginx]).contains(where: Self.isRunning) { usleep(50_000) }
        for pid in pids { #expect(!Self.isRunning(pid), "pid \(pid) outlived its supervisor") }
        #expect(!Self.isRunning(nginx), "nginx outlived its supervisor")
        #expect(throws: (any Error).self, "nobody answers on the port any more") { try stack.client.get("/") }
        // And a new run takes the same port at once.
        let again = try Stack.start(.init(port: stack.port))
        defer { again.stop() }
        #expect(try again.client.get("/").status == 200)
    }

    /// nginx's master process, from the pid file in the stack's nginx folder.
    static func nginxMaster(_ stack: Stack) -> pid_t? {
        let path = stack.dataDirectory + "/nginx/nginx.pid"
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return pid
            }
            usleep(50_000)
        }
        return nil
    }

    @Test("A second run command on the same data folder refuses to start and leaves the first one serving")
    func secondServeIsRefused() throws {
        let stack = try Stack.start()
        defer { stack.stop() }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VQ_") }
        environment["VQ_DATA_DIR"] = stack.dataDirectory
        environment["VQ_PORT"] = String(try Stack.freePort())
        environment["VQ_JWT_SECRET"] = Stack.jwtSecret
        let output = stack.dataDirectory + "/second.out"
        let pid = try Stack.spawnInOwnGroup(
            Stack.binDirectory + "/vision-queue", ["serve", "--root", Stack.repositoryRoot], environment: environment,
            output: output)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(15)
        var exited = false
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { exited = true; break }
            usleep(50_000)
        }
        if !exited { kill(-pid, SIGKILL) }
        #expect(exited)
        #expect(status != 0)
        #expect((try? String(contentsOfFile: output, encoding: .utf8))?.contains("already running") == true)
        let token = stack.token(for: "first-serve-still-works")
        let jobID = try stack.createJob(token: token)
        #expect(try stack.waitForJob(jobID, token: token)["status"] as? String == "completed")
    }

    /// Alive and not a zombie (an orphan's exit is reaped by whoever PID 1 is, maybe never).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].dropFirst(2).hasPrefix("Z")
    }

    private func waitForOutput(_ stack: Stack, containing text: String, seconds: Double) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var output = ""
        while Date() < deadline {
            output = (try? String(contentsOfFile: stack.dataDirectory + "/serve.out", encoding: .utf8)) ?? ""
            if output.contains(text) { return output }
            usleep(50_000)
        }
        return output
    }
}

@Suite("Production nginx configuration")
struct ProductionNginxTests {
    @Test("vision-queue nginx-snippets writes what the settings decide, and the shipped server block with them passes nginx -t")
    func serverBlockWithWrittenSnippets() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("vq-prod-nginx-\(UUID().uuidString.prefix(8))").path
        let snippets = prefix + "/snippets/vision-queue"
        try FileManager.default.createDirectory(atPath: snippets, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        for file in ["vision-queue-locations.conf", "vision-queue-fastcgi.conf", "vision-queue-headers.conf"] {
            try FileManager.default.copyItem(atPath: Stack.repositoryRoot + "/nginx/" + file, toPath: snippets + "/" + file)
        }
        let written = try Self.run(
            Stack.binDirectory + "/vision-queue", ["nginx-snippets", snippets],
            environment: ["VQ_MAX_BODY_BYTES": "12345", "VQ_TRIGGER_ALLOW": "10.0.0.0/8, fd00::/8"])
        #expect(written.status == 0, "\(written.output)")
        let limits = try String(contentsOfFile: snippets + "/vision-queue-limits.conf", encoding: .utf8)
        #expect(limits.contains("client_max_body_size 12345;") && limits.contains("at most 12345 bytes"))
        let sources = try String(contentsOfFile: snippets + "/vision-queue-trigger-sources.conf", encoding: .utf8)
        #expect(sources.contains("allow 10.0.0.0/8;\nallow fd00::/8;\n"))
        #expect(try Self.run(Stack.binDirectory + "/vision-queue", ["nginx-snippets", snippets], environment: ["VQ_TRIGGER_ALLOW": "all"]).status != 0,
                "a bad setting writes nothing")

        let main = """
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/error.log;
            events {}
            http {
                include /etc/nginx/mime.types;
                include \(Stack.repositoryRoot)/nginx/vision-queue.conf;
            }
            """
        try main.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
        let check = try Self.run("/usr/sbin/nginx", ["-t", "-p", prefix, "-c", prefix + "/nginx.conf"], environment: [:])
        #expect(check.status == 0, "nginx -t: \(check.output)")
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
        try Command.run(executable, arguments, environment: ["PATH": "/usr/bin:/bin:/usr/sbin"].merging(environment) { $1 })
    }
}

/// A flag one thread sets and others read.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
