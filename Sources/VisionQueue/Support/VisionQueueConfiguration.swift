import FoundationEssentials

/// Every setting, read once from the environment. Each has a default that runs a single-machine
/// development copy; nothing else needs editing to run two copies side by side on two ports.
public struct VisionQueueConfiguration: Sendable {
    /// `VQ_HOST`, default `127.0.0.1`: the address nginx listens on.
    public var host: String
    /// `VQ_PORT`, default 8080: nginx's port. Also the port the self-trigger calls.
    public var port: Int
    /// `VQ_DATA_DIR`, default `./data/<port>`: the SQLite file, sockets, logs and nginx's working
    /// files. Per port by default, so a second copy on another port needs no other setting.
    public var dataDirectory: String
    /// `VQ_DB_PATH`, default `$VQ_DATA_DIR/vision-queue.sqlite3`.
    public var databasePath: String
    /// `VQ_DATABASE_URL` or the file named by `VQ_DATABASE_URL_FILE`, default unset: a
    /// `postgres://` URL selects PostgreSQL instead of the SQLite file. Its password is never logged.
    public var databaseURL: String?
    /// `VQ_DATABASE_SCHEMA`, default `vision_queue`: the PostgreSQL schema the tables live in.
    public var databaseSchema: String
    /// `VQ_SOCKET_DIR`, default `$VQ_DATA_DIR/run`: where each binary's unix socket lives
    /// (`vision-create.sock`, ...).
    public var socketDirectory: String
    /// `VQ_THREADS`, default 4: FastCGI worker threads per process of `vision-create` and
    /// `vision-status` (and the floor for `vision-process`).
    public var threads: Int
    /// `VQ_PROCESS_THREADS`: worker threads per `vision-process` process. Each holds one category
    /// step for as long as the generator takes (minutes with a hosted model), so by default there
    /// are enough for `VQ_MAX_CONCURRENT_CATEGORIES` to be writing at once: the larger of
    /// `VQ_THREADS` and that limit shared among `VQ_PROCESS_PROCESSES` (1 x 16 with every default).
    public var processThreads: Int
    /// `VQ_PROCESSES`, default 2: processes of `vision-create` and `vision-status` that
    /// `vision-queue serve` runs on one shared socket each, so a crashed or paused process never
    /// leaves an endpoint unserved.
    public var processes: Int
    /// `VQ_PROCESS_PROCESSES`, default 1: processes of `vision-process` that `serve` runs. One, as
    /// the systemd units run it: every step of the machine then commits through one SQLite writer
    /// whose group commits gather them all, and the database's write lock never passes between
    /// processes (measured: +14% steps/s end to end against two processes of 8 threads). Its
    /// socket is held by `serve`, so steps wait in the queue while a crashed one is replaced.
    public var processProcesses: Int
    /// `VQ_MAX_CONCURRENT_CATEGORIES`, default 16: categories writing at once across every worker
    /// (the generator's cost and rate limits are what this protects).
    public var maxConcurrentCategories: Int
    /// `VQ_STALL_SECONDS`, default 30: how long a job may sit with work due and no live lease before
    /// a sweep or a status poll triggers it again (at most once per this window).
    public var stallSeconds: Int
    /// `VQ_SWEEP_INTERVAL_SECONDS`, default 15: how often `vision-queue serve` sweeps for stalled
    /// jobs; 0 turns its built-in sweep off (cron or a systemd timer can run `vision-queue sweep`).
    public var sweepIntervalSeconds: Int
    /// `VQ_GENERATOR_DELAY_MS`, default 3000: the built-in generator's time per category.
    public var generatorDelayMillis: Int
    /// `VQ_GENERATOR`, default `builtin` (offline, a template); `openai` writes each category with a
    /// language model through an OpenAI-compatible chat-completions API (`model`).
    public var generator: GeneratorKind
    /// The `VQ_LLM_*` settings: see `ModelSettings`.
    public var model: ModelSettings
    /// `VQ_PROMPTS_DIR`, default `prompts` (`serve` sets the repository's `prompts/`): the prompt
    /// files the model is given (see `Prompts`).
    public var promptsDirectory: String
    /// `VQ_ASSEMBLY`, default `mechanical`: the vision is the sections joined under their headings;
    /// `model` also has the model write an opening and a closing around them.
    public var assembly: AssemblyMode
    /// `VQ_JWT_SECRET` or the file named by `VQ_JWT_SECRET_FILE`; unset: single-user development mode.
    public var jwtSecret: String?
    /// `VQ_JWT_AUDIENCE`, default `authenticated` (what Supabase issues). Empty: not checked.
    public var jwtAudience: String?
    /// `VQ_JWT_ISSUER`, default unset: when set, tokens must carry exactly this `iss`.
    public var jwtIssuer: String?
    /// `VQ_JWT_LEEWAY_SECONDS`, default 30: clock skew allowed on `exp` and `nbf`.
    public var jwtLeewaySeconds: Int
    /// `VQ_TRIGGER_SECRET` or the file named by `VQ_TRIGGER_SECRET_FILE`: the shared secret the
    /// process endpoint requires. The run command generates one when unset.
    public var triggerSecret: String?
    /// `VQ_TRIGGER_URL`, default `http://127.0.0.1:$VQ_PORT/api/vision-jobs/process`.
    public var triggerURL: String
    /// `VQ_TRIGGER_ALLOW`: addresses or networks besides loopback whose requests nginx lets reach
    /// the process endpoint (a load balancer that self-triggers go through, on several nodes).
    /// The trigger secret is required from them all the same.
    public var triggerSources: [String]
    /// `VQ_METRICS_TOKEN` (or `_FILE`), default unset: `/metrics` is for loopback only. When set,
    /// nginx lets any address reach it and every scrape must send `Authorization: Bearer <token>`.
    public var metricsToken: String?
    /// `VQ_ADMIN_TOKEN` (or `_FILE`), default unset: the operator page and its endpoints are off.
    /// When set, they answer requests that send it as `Authorization: Bearer <token>`.
    public var adminToken: String?
    /// `VQ_WEBHOOK_URL` with `VQ_WEBHOOK_SECRET` (or `_FILE`), `VQ_WEBHOOK_FIRST_RETRY_MS` and
    /// `VQ_WEBHOOK_TIMEOUT_SECONDS`: where each run's ending is announced; nil when unset.
    public var webhook: WebhookSettings?
    /// `VQ_MAX_ATTEMPTS` (3), `VQ_LEASE_SECONDS` (60), `VQ_RETRY_BASE_MS` (2000): see `RetryPolicy`.
    public var retryPolicy: RetryPolicy
    /// `VQ_MAX_BODY_BYTES`, default 65536.
    public var maxBodyBytes: Int
    /// `VQ_MAX_ANSWER_CHARS`, default 4000.
    public var maxNoteCharacters: Int
    /// `VQ_MAX_ACTIVE_JOBS` (default 1) and `VQ_MAX_CREATES_PER_HOUR` (default 10): per-user limits
    /// on create. With one active job allowed, a second "Generate Vision" click answers the job
    /// already running instead of starting (and paying for) another.
    public var createLimits: CreateLimits
    /// `VQ_SYNCHRONOUS`, default `FULL`: SQLite's durability level (`FULL` or `NORMAL`).
    public var durability: SQLiteDurability
    /// `VQ_BUSY_TIMEOUT_MS`, default 5000: how long a statement waits for another connection's lock
    /// before the store retries (writes) or answers 503 (reads).
    public var busyTimeoutMillis: Int
    /// `VQ_SHUTDOWN_GRACE_SECONDS`, default 10: how long SIGTERM waits for in-flight work.
    public var shutdownGraceSeconds: Int
    /// `VQ_LOG_LEVEL`, default `info` (`debug`, `info`, `warning`, `error`).
    public var logLevel: Logger.Level
    /// `VQ_LOG_FORMAT`, default `text`: `json` for one JSON object per line.
    public var logFormat: Logger.Format
    /// `VQ_FAULT_DROP_TRIGGERS`, default 0: test-only share (0-1) of self-triggers silently dropped.
    public var faultDropTriggers: Double
    /// `VQ_FAULT_FAIL`, default empty: test-only generator failures, e.g. `health:2,travel:*`
    /// (fail health's first 2 attempts, travel's every attempt).
    public var faultFail: String
    /// `VQ_FAULT_CRASH`, default empty: test-only marker; writing a category whose answer contains
    /// it kills the process (a poison input).
    public var faultCrash: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmed, !raw.isEmpty else { return nil }
            return raw
        }
        func int(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let raw = value(name) else { return fallback }
            guard let parsed = Int(raw), range.contains(parsed) else {
                throw ConfigurationError("\(name)=\(raw) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return parsed
        }
        func secret(_ name: String) throws(ConfigurationError) -> String? {
            if let file = value(name + "_FILE") {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw ConfigurationError("\(name)_FILE=\(file) cannot be read")
                }
                let trimmed = text.trimmed
                guard !trimmed.isEmpty else { throw ConfigurationError("\(name)_FILE=\(file) is empty") }
                return trimmed
            }
            return value(name)
        }

        host = value("VQ_HOST") ?? "127.0.0.1"
        port = try int("VQ_PORT", 8080, 1...65535)
        dataDirectory = value("VQ_DATA_DIR") ?? "./data/\(port)"
        databasePath = value("VQ_DB_PATH") ?? dataDirectory + "/vision-queue.sqlite3"
        socketDirectory = value("VQ_SOCKET_DIR") ?? dataDirectory + "/run"
        databaseURL = try secret("VQ_DATABASE_URL")
        if let url = databaseURL, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            throw ConfigurationError("VQ_DATABASE_URL must be a postgres:// or postgresql:// URL")
        }
        databaseSchema = value("VQ_DATABASE_SCHEMA") ?? "vision_queue"
        guard databaseSchema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), databaseSchema.first?.isLetter == true else {
            throw ConfigurationError("VQ_DATABASE_SCHEMA must be a plain name: letters, digits and _")
        }
        threads = try int("VQ_THREADS", 4, 1...256)
        processes = try int("VQ_PROCESSES", 2, 1...64)
        processProcesses = try int("VQ_PROCESS_PROCESSES", 1, 1...64)
        maxConcurrentCategories = try int("VQ_MAX_CONCURRENT_CATEGORIES", 16, 0...10_000)
        // 0: no limit across workers; each vision-process process's threads (16 by default) bound it.
        let sharedLimit = maxConcurrentCategories == 0 ? 16 : (maxConcurrentCategories + processProcesses - 1) / processProcesses
        // Up to 1,024: with a hosted model each running category holds a thread for minutes.
        processThreads = try int("VQ_PROCESS_THREADS", min(1024, max(threads, sharedLimit)), 1...1024)
        stallSeconds = try int("VQ_STALL_SECONDS", 30, 1...86_400)
        sweepIntervalSeconds = try int("VQ_SWEEP_INTERVAL_SECONDS", 15, 0...86_400)
        generatorDelayMillis = try int("VQ_GENERATOR_DELAY_MS", 3000, 0...3_600_000)
        func choice<T: RawRepresentable<String> & CaseIterable>(_ name: String, _ fallback: T) throws(ConfigurationError) -> T {
            guard let raw = value(name) else { return fallback }
            guard let chosen = T(rawValue: raw.lowercased()) else {
                throw ConfigurationError("\(name)=\(raw) must be one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return chosen
        }
        func number(_ name: String, _ fallback: Double?, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
            guard let raw = value(name) else { return fallback }
            guard let parsed = Double(raw), range.contains(parsed) else {
                throw ConfigurationError("\(name)=\(raw) must be a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return parsed
        }
        generator = try choice("VQ_GENERATOR", GeneratorKind.builtIn)
        assembly = try choice("VQ_ASSEMBLY", AssemblyMode.mechanical)
        promptsDirectory = value("VQ_PROMPTS_DIR") ?? "prompts"
        let defaults = ModelSettings()
        model = ModelSettings(
            baseURL: value("VQ_LLM_BASE_URL") ?? defaults.baseURL,
            model: value("VQ_LLM_MODEL") ?? defaults.model,
            apiKey: try secret("VQ_LLM_API_KEY"),
            temperature: try number("VQ_LLM_TEMPERATURE", defaults.temperature, 0...2)!,
            maxTokens: try int("VQ_LLM_MAX_TOKENS", defaults.maxTokens, 1...1_000_000),
            timeoutSeconds: try int("VQ_LLM_TIMEOUT_SECONDS", defaults.timeoutSeconds, 1...86_400),
            stallSeconds: try int("VQ_LLM_STALL_SECONDS", defaults.stallSeconds, 1...86_400),
            maxConcurrent: try int("VQ_LLM_MAX_CONCURRENT", defaults.maxConcurrent, 1...10_000),
            maxWaits: try int("VQ_LLM_MAX_WAITS", defaults.maxWaits, 0...1_000),
            maxWaitSeconds: try int("VQ_LLM_MAX_WAIT_SECONDS", defaults.maxWaitSeconds, 1...86_400),
            pricePerMillionInput: try number("VQ_LLM_PRICE_INPUT_PER_MTOK", nil, 0...1_000_000),
            pricePerMillionOutput: try number("VQ_LLM_PRICE_OUTPUT_PER_MTOK", nil, 0...1_000_000))
        guard model.baseURL.hasPrefix("http://") || model.baseURL.hasPrefix("https://") else {
            throw ConfigurationError("VQ_LLM_BASE_URL must start with http:// or https://")
        }
        jwtSecret = try secret("VQ_JWT_SECRET")
        jwtAudience = environment["VQ_JWT_AUDIENCE"].map { $0.isEmpty ? nil : $0 } ?? "authenticated"
        jwtIssuer = value("VQ_JWT_ISSUER")
        jwtLeewaySeconds = try int("VQ_JWT_LEEWAY_SECONDS", 30, 0...3600)
        triggerSecret = try secret("VQ_TRIGGER_SECRET")
        metricsToken = try secret("VQ_METRICS_TOKEN")
        adminToken = try secret("VQ_ADMIN_TOKEN")
        for (name, token) in [("VQ_METRICS_TOKEN", metricsToken), ("VQ_ADMIN_TOKEN", adminToken)] {
            if let token, token.utf8.count < 16 {
                throw ConfigurationError("\(name) must be at least 16 characters (openssl rand -hex 32 makes a good one)")
            }
        }
        triggerURL = value("VQ_TRIGGER_URL") ?? "http://127.0.0.1:\(port)/api/vision-jobs/process"
        triggerSources = (value("VQ_TRIGGER_ALLOW") ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        for source in triggerSources where !NetworkAddress.isAddressOrNetwork(source) {
            throw ConfigurationError("VQ_TRIGGER_ALLOW: \(source) is not an IP address or network (10.0.0.0/8, fd00::/8)")
        }
        if let url = value("VQ_WEBHOOK_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigurationError("VQ_WEBHOOK_URL must start with http:// or https://")
            }
            guard let secret = try secret("VQ_WEBHOOK_SECRET"), let signer = WebhookSigner(secret: secret) else {
                throw ConfigurationError("VQ_WEBHOOK_URL needs VQ_WEBHOOK_SECRET (or _FILE): whsec_ and a base64 key, or any text")
            }
            webhook = WebhookSettings(
                url: url, signer: signer,
                schedule: WebhookRetrySchedule(firstDelayMillis: Int64(try int("VQ_WEBHOOK_FIRST_RETRY_MS", 5000, 1...3_600_000))),
                timeoutSeconds: try int("VQ_WEBHOOK_TIMEOUT_SECONDS", 10, 1...600))
        } else {
            webhook = nil
        }
        retryPolicy = RetryPolicy(
            maxAttempts: try int("VQ_MAX_ATTEMPTS", 3, 1...100),
            leaseMillis: Int64(try int("VQ_LEASE_SECONDS", 60, 1...86_400)) * 1000,
            backoffBaseMillis: Int64(try int("VQ_RETRY_BASE_MS", 2000, 0...3_600_000)))
        maxBodyBytes = try int("VQ_MAX_BODY_BYTES", 65_536, 1024...16_777_216)
        maxNoteCharacters = try int("VQ_MAX_ANSWER_CHARS", 4000, 1...100_000)
        createLimits = CreateLimits(
            maxActiveJobs: try int("VQ_MAX_ACTIVE_JOBS", 1, 1...1_000_000),
            maxCreatesPerHour: try int("VQ_MAX_CREATES_PER_HOUR", 10, 1...100_000_000))
        guard let durability = SQLiteDurability(setting: value("VQ_SYNCHRONOUS") ?? "FULL") else {
            throw ConfigurationError("VQ_SYNCHRONOUS must be FULL or NORMAL")
        }
        self.durability = durability
        busyTimeoutMillis = try int("VQ_BUSY_TIMEOUT_MS", 5000, 1...600_000)
        shutdownGraceSeconds = try int("VQ_SHUTDOWN_GRACE_SECONDS", 10, 0...3600)
        switch (value("VQ_LOG_LEVEL") ?? "info").lowercased() {
        case "debug": logLevel = .debug
        case "warning": logLevel = .warning
        case "error": logLevel = .error
        default: logLevel = .info
        }
        logFormat = try choice("VQ_LOG_FORMAT", Logger.Format.text)
        guard let drop = Double(value("VQ_FAULT_DROP_TRIGGERS") ?? "0"), (0...1).contains(drop) else {
            throw ConfigurationError("VQ_FAULT_DROP_TRIGGERS must be a number from 0 to 1")
        }
        faultDropTriggers = drop
        faultFail = value("VQ_FAULT_FAIL") ?? ""
        faultCrash = value("VQ_FAULT_CRASH") ?? ""
    }

    /// FastCGI worker threads per process of one binary.
    public func threads(for binary: String) -> Int { binary == "vision-process" ? processThreads : threads }

    /// The unix socket of one binary, e.g. `socketPath(for: "vision-status")`.
    public func socketPath(for binary: String) -> String { "\(socketDirectory)/\(binary).sock" }

    public var developmentMode: Bool { jwtSecret == nil }

    /// Where each process keeps its counters for `/metrics` (see `MetricsFile`).
    public var metricsDirectory: String { dataDirectory + "/metrics" }

    /// The rules of a job's steps. The store counts running categories against
    /// `VQ_MAX_CONCURRENT_CATEGORIES` only where the workers cannot hold the limit themselves.
    public var lifecycle: JobLifecycle {
        JobLifecycle(policy: retryPolicy, maxConcurrentCategories: threadsHoldTheLimit ? nil : maxConcurrentCategories)
    }

    /// True when no more categories can write at once than the limit allows without the store
    /// counting them: with no limit, or on SQLite (every worker on this machine) when the
    /// vision-process processes' threads together are no more than the limit, since a category
    /// writes only while it holds one of those threads. The store's count of running rows is then
    /// not needed, and leaving it out is what lets a step reserve the next one
    /// (`JobLifecycle.reservesNextSteps`): a reservation is a running row whose step has no thread
    /// yet, which that count would hold against every other job's claim.
    public var threadsHoldTheLimit: Bool {
        maxConcurrentCategories == 0 || (databaseURL == nil && processProcesses * processThreads <= maxConcurrentCategories)
    }

    public var stallMillis: Int64 { Int64(stallSeconds) * 1000 }

    public func logger(_ label: String) -> Logger { Logger(label: label, minimum: logLevel, format: logFormat) }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Which generator writes the categories (`VQ_GENERATOR`).
public enum GeneratorKind: String, Sendable, CaseIterable {
    case builtIn = "builtin"
    case openai
}

/// How the final vision is put together (`VQ_ASSEMBLY`).
public enum AssemblyMode: String, Sendable, CaseIterable {
    case mechanical
    case model
}
