import Foundation
import VisionQueue

/// Starts child processes and keeps them running: a child that dies while the stack is up is
/// started again at once (with a short pause if it keeps crashing), as php-fpm's master does.
/// On stop it sends SIGTERM to every child and SIGKILL to those still there after the grace time.
final class Supervisor {
    struct Program {
        var name: String
        var executable: String
        var arguments: [String]
        var logFile: String
        /// Where the child's pid is written, for operators and tests.
        var pidFile: String?
        /// A listening socket this supervisor owns and hands to the child as fd 3 (`VQ_LISTEN_FD=3`).
        /// It outlives the child, so connections queue while a replacement starts.
        var listenSocket: Int32? = nil
    }

    private struct Child {
        var program: Program
        /// 0 while the child is down, waiting for `restartAt`.
        var pid: pid_t
        var startedAt: EpochMillis
        var quickExits: Int
        var restartAt: EpochMillis?
    }

    private var children: [Child] = []
    private let environment: [String: String]
    /// Told of every child that died while the stack is up, before it is started again.
    var onUnexpectedExit: ((_ program: Program, _ pid: pid_t) -> Void)?
    private let log: Logger

    init(environment: [String: String], log: Logger) {
        self.environment = environment
        self.log = log
    }

    func start(_ program: Program) throws {
        let pid = try spawn(program)
        children.append(Child(program: program, pid: pid, startedAt: Clock.now(), quickExits: 0, restartAt: nil))
    }

    /// Reaps exited children and starts them again: at once, or a second later when one keeps
    /// crashing. Call often; never blocks or sleeps, so the caller keeps answering signals.
    func reapAndRestart(stopping: Bool) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { break }
            guard let index = children.firstIndex(where: { $0.pid == pid }) else { continue }
            if stopping {
                children.remove(at: index)
                continue
            }
            let how = Self.describe(status)
            onUnexpectedExit?(children[index].program, pid)
            let now = Clock.now()
            children[index].pid = 0
            children[index].quickExits = now - children[index].startedAt < 10_000 ? children[index].quickExits + 1 : 0
            if children[index].quickExits > 5 {
                log.error("\(children[index].program.name) keeps exiting (\(how)); next start in 1 s. See \(children[index].program.logFile)")
                children[index].restartAt = now + 1_000
            } else {
                log.warning("\(children[index].program.name) (pid \(pid)) \(how); starting it again")
                children[index].restartAt = now
            }
        }
        guard !stopping else { return }
        let now = Clock.now()
        for index in children.indices {
            guard children[index].pid == 0, let due = children[index].restartAt, due <= now else { continue }
            do {
                children[index].pid = try spawn(children[index].program)
                children[index].startedAt = now
                children[index].restartAt = nil
            } catch {
                log.error("cannot restart \(children[index].program.name): \(error); trying again in 1 s")
                children[index].restartAt = now + 1_000
            }
        }
    }

    var isEmpty: Bool { children.isEmpty }

    /// SIGTERM to all, then wait; SIGKILL what is left after `graceSeconds`.
    func stopAll(graceSeconds: Int) {
        children.removeAll { $0.pid == 0 }
        for child in children { kill(child.pid, SIGTERM) }
        let deadline = Clock.now() + Int64(graceSeconds) * 1000
        while !children.isEmpty && Clock.now() < deadline {
            reapAndRestart(stopping: true)
            usleep(50_000)
        }
        for child in children {
            log.warning("\(child.program.name) did not stop in \(graceSeconds) s; killing it")
            kill(child.pid, SIGKILL)
            var status: Int32 = 0
            waitpid(child.pid, &status, 0)
        }
        children.removeAll()
    }

    private func spawn(_ program: Program) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, program.logFile, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var environment = self.environment
        if let socket = program.listenSocket {
            posix_spawn_file_actions_adddup2(&actions, socket, 3)
            environment["VQ_LISTEN_FD"] = "3"
            environment["VQ_SUPERVISOR_PID"] = String(getpid())
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([program.executable] + program.arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, program.executable, &actions, &attributes, argv, envp)
        guard code == 0 else { throw ConfigurationError("cannot start \(program.executable): \(String(cString: strerror(code)))") }
        if let pidFile = program.pidFile { try? "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8) }
        return pid
    }

    private static func describe(_ status: Int32) -> String {
        let signal = status & 0x7F
        if signal == 0 { return "exited with status \((status >> 8) & 0xFF)" }
        return "was killed by signal \(signal)"
    }
}
