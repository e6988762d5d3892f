import Foundation
import Testing
import VisionQueue
import VisionQueueTestSupport

/// Past one machine: stacks sharing one PostgreSQL database, and that database going away. Each
/// test has a PostgreSQL server of its own, since it stops it.
@Suite("PostgreSQL: restarts and several nodes", .serialized)
struct MultiNodeTests {
    /// Short leases and sweeps, so a dead node's claims are taken over in seconds.
    static let quickRecovery = [
        "VQ_LEASE_SECONDS": "5", "VQ_STALL_SECONDS": "2", "VQ_SWEEP_INTERVAL_SECONDS": "1", "VQ_RETRY_BASE_MS": "200",
        "VQ_MAX_ACTIVE_JOBS": "1000", "VQ_MAX_CREATES_PER_HOUR": "100000",
    ]

    @Test("PostgreSQL restarts mid-run: 503 with Retry-After while it is down, never a 500; every job completes, each category written once")
    func databaseRestart() throws {
        let postgres = try TestPostgres.dedicated()
        let database = try TestDatabase(postgres: postgres)
        let stack = try Stack.start(.init(generatorDelayMillis: 300, environment: Self.quickRecovery, store: .postgres, database: database))
        defer { stack.stop() }
        try stack.auditOutputWrites()
        let token = stack.token(for: "restart")
        let jobs = try (0..<20).map { _ in try stack.createJob(token: token) }
        usleep(1_500_000)

        postgres.stop()
        var answers: [Int: Int] = [:]
        var retryAfter = true
        let down = Date().addingTimeInterval(4)
        while Date() < down {
            for response in [
                try stack.client.get("/api/vision-jobs/status?jobId=\(jobs[0])", token: token),
                try stack.client.postJSON("/api/vision-jobs/create", ["answers": [:] as [String: String]], token: stack.token(for: "while-down")),
            ] {
                answers[response.status, default: 0] += 1
                if response.status == 503 && response.headers["retry-after"] == nil { retryAfter = false }
            }
            usleep(200_000)
        }
        try postgres.start()

        #expect(answers.keys.allSatisfy { $0 == 503 }, "while the database is down every answer is 503: \(answers.sorted { $0.key < $1.key })")
        #expect(retryAfter, "every 503 says when to come back")
        for id in jobs {
            let final = try stack.waitForJob(id, token: token, timeout: 120)
            #expect(final["status"] as? String == "completed", "\(final)")
        }
        let writes = try stack.outputWrites()
        #expect(writes.values.map(\.count).reduce(0, +) == 20 * 12)
        #expect(writes.values.flatMap(\.values).allSatisfy { $0 == 1 }, "each category's text stored once")
        for binary in ["vision-status", "vision-create"] {
            #expect(!stack.logText(binary).contains("] error: "), "no request of \(binary) ended in a 500")
        }
    }

    @Test("Three nodes on one PostgreSQL behind a round-robin front: 300 jobs complete through a node killed outright and a database restart, each category written once")
    func threeNodes() throws {
        let postgres = try TestPostgres.dedicated()
        let database = try TestDatabase(postgres: postgres)
        let front = try RoundRobinFront(nodes: 3)
        defer { front.stop() }
        var environment = Self.quickRecovery
        // Self-triggers go through the front, so a step may run on any node.
        environment["VQ_TRIGGER_URL"] = "http://127.0.0.1:\(front.port)/api/vision-jobs/process"
        let nodes = try front.nodePorts.map { port in
            try Stack.start(
                .init(generatorDelayMillis: 100, processes: 1, environment: environment, store: .postgres, database: database, port: port))
        }
        defer { nodes.forEach { $0.stop() } }
        try nodes[0].auditOutputWrites()
        let client = HTTPClient(port: front.port)
        let token = nodes[0].token(for: "three-nodes")

        let jobs = try (0..<300).map { index -> String in
            let response = try client.postJSON("/api/vision-jobs/create", ["answers": ["fun": "node test \(index)"]], token: token)
            guard response.status == 201, let id = response.json?["jobId"] as? String else {
                throw HTTPClient.Failure(description: "create through the front: \(response)")
            }
            return id
        }
        usleep(2_000_000)
        nodes[0].killEverything()  // every process of one node, at once
        usleep(2_000_000)
        postgres.stop()
        usleep(2_000_000)
        try postgres.start()

        let deadline = Date().addingTimeInterval(240)
        var unfinished = jobs
        while !unfinished.isEmpty && Date() < deadline {
            unfinished = try unfinished.filter { id in
                let response = try client.get("/api/vision-jobs/status?jobId=\(id)", token: token)
                return response.json?["status"] as? String != "completed"
            }
            if !unfinished.isEmpty { usleep(500_000) }
        }
        #expect(unfinished.count == 0, "jobs unfinished")
        let writes = try nodes[1].outputWrites()
        #expect(writes.values.map(\.count).reduce(0, +) == 300 * 12)
        #expect(writes.values.flatMap(\.values).allSatisfy { $0 == 1 }, "each category's text stored once")
        // Steps of one job ran on several nodes: the triggers went through the front, not only the
        // creates (which alone would spread jobs, not steps).
        let spread = try nodes[1].db().row(
            """
            SELECT COUNT(*) FROM (
                SELECT job_id FROM vision_job_categories WHERE lease_owner IS NOT NULL
                GROUP BY job_id HAVING COUNT(DISTINCT lease_owner) >= 2) AS spread
            """, []) { $0.int(0) } ?? 0
        #expect(spread >= 150, "jobs whose steps ran on more than one node: \(spread) of 300")
    }
}

/// nginx in front of the nodes, sending each request to the next node (round robin) and past a
/// node that does not answer: the load balancer a deployment on several machines has.
final class RoundRobinFront: @unchecked Sendable {
    let port: Int
    let nodePorts: [Int]
    private let directory: String
    private let process: Process

    init(nodes: Int) throws {
        port = try Stack.freePort()
        nodePorts = try (0..<nodes).map { _ in try Stack.freePort() }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vq-front-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Never marked down: a request that finds its node gone goes on to the next one.
        let servers = nodePorts.map { "server 127.0.0.1:\($0) max_fails=0;" }.joined(separator: "\n        ")
        let configuration = """
            worker_processes 1;
            user root;
            error_log \(directory)/error.log warn;
            pid \(directory)/nginx.pid;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(directory)/body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                upstream nodes {
                    \(servers)
                }
                server {
                    listen 127.0.0.1:\(port);
                    location / {
                        proxy_pass http://nodes;
                        proxy_next_upstream error timeout http_502 http_504 non_idempotent;
                        proxy_connect_timeout 2s;
                    }
                }
            }
            """
        try configuration.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", directory, "-c", directory + "/nginx.conf", "-e", directory + "/error.log", "-g", "daemon off;"]
        try process.run()
        // Ready once its log says so (no request through it yet: the nodes start after it).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: directory + "/nginx.pid") { return }
            usleep(50_000)
        }
        throw HTTPClient.Failure(description: "the front did not start")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
