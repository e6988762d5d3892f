import Foundation
import Testing
import VisionQueueTestSupport

/// libcurl and libpq are opened when first used, not linked: together with the TLS, Kerberos and
/// LDAP libraries they bring, they made up about 6 MB of every idle worker's RSS.
@Suite("Library loading", .serialized)
struct LibraryLoadingTests {
    @Test("An idle worker maps neither libcurl nor libpq; the first trigger maps libcurl, and a SQLite deployment never maps libpq")
    func librariesLoadWhenFirstUsed() throws {
        let stack = try Stack.start(.init(store: .sqlite))
        defer { stack.stop() }
        let binaries = ["vision-create", "vision-process", "vision-status"]
        for binary in binaries {
            let libraries = try mappedLibraries(stack, binary)
            #expect(!libraries.contains("libcurl"), "idle \(binary) maps libcurl")
            #expect(!libraries.contains("libpq"), "idle \(binary) maps libpq")
        }

        let token = stack.token(for: "library-loading")
        let jobID = try stack.createJob(token: token)
        #expect(try stack.waitForJob(jobID, token: token)["status"] as? String == "completed")
        // Each category's step sent the next one's trigger through libcurl.
        let processes = try (1...2).map { try mappedLibraries(stack, "vision-process", process: $0) }
        #expect(processes.contains { $0.contains("libcurl") }, "\(processes)")
        let created = try (1...2).map { try mappedLibraries(stack, "vision-create", process: $0) }
        #expect(created.contains { $0.contains("libcurl") }, "the create that triggered the job maps libcurl")
        for binary in binaries {
            #expect(!(try mappedLibraries(stack, binary)).contains("libpq"), "\(binary) maps libpq on SQLite")
        }
        #expect(!(try mappedLibraries(stack, "vision-status")).contains("libcurl"), "status sent nothing")
    }

    /// The names of the shared libraries a worker process has mapped, from /proc/PID/maps.
    private func mappedLibraries(_ stack: Stack, _ binary: String, process: Int = 1) throws -> Set<String> {
        let pid = try #require(stack.pid(of: binary, process: process))
        // Read to the end: /proc files report a size of 0, and a sized read stops at the first page.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/\(pid)/maps"))
        defer { try? file.close() }
        let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var names = Set<String>()
        for line in maps.split(separator: "\n") {
            guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.hasPrefix("/") else { continue }
            let file = path.split(separator: "/").last.map(String.init) ?? ""
            if let name = file.split(separator: ".").first, file.contains(".so") { names.insert(String(name)) }
        }
        return names
    }
}
