import ArgumentParser
import Foundation
import VisionQueue

/// The nginx snippets that follow from the settings, so nginx and the binaries never disagree:
/// the body limit (`VQ_MAX_BODY_BYTES`, with the JSON 413 naming it) and the addresses allowed to
/// self-trigger (`VQ_TRIGGER_ALLOW`). `serve` writes them for its own nginx; a deployment runs
/// `vision-queue nginx-snippets` with its settings, into /etc/nginx/snippets/vision-queue.
struct NginxSnippets {
    var maxBodyBytes: Int
    var triggerSources: [String]
    /// `VQ_METRICS_TOKEN` is set: remote scrapers may reach `/metrics` (the binary asks for the token).
    var metricsOpen: Bool

    init(_ configuration: VisionQueueConfiguration) {
        maxBodyBytes = configuration.maxBodyBytes
        triggerSources = configuration.triggerSources
        metricsOpen = configuration.metricsToken != nil
    }

    /// File name and text of each snippet.
    var files: [(name: String, text: String)] {
        [
            (
                "vision-queue-limits.conf",
                """
                # Written by vision-queue from VQ_MAX_BODY_BYTES (\(maxBodyBytes)): the binaries refuse the same.
                client_max_body_size \(maxBodyBytes);
                client_body_buffer_size \(maxBodyBytes);

                location @vq_too_large {
                    default_type application/json;
                    include snippets/vision-queue/vision-queue-headers.conf;
                    add_header Cache-Control "no-store" always;
                    return 413 '{"error":{"code":"payload_too_large","message":"The body may be at most \(maxBodyBytes) bytes."}}';
                }

                """
            ),
            (
                "vision-queue-trigger-sources.conf",
                "# Written by vision-queue from VQ_TRIGGER_ALLOW: where else self-triggers may come from.\n"
                    + triggerSources.map { "allow \($0);\n" }.joined()
            ),
            (
                "vision-queue-metrics-sources.conf",
                "# Written by vision-queue: VQ_METRICS_TOKEN is \(metricsOpen ? "set, so any address may scrape with it" : "unset, so only loopback may scrape").\n"
                    + (metricsOpen ? "allow all;\n" : "")
            ),
        ]
    }

    func write(into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for file in files {
            try file.text.write(toFile: directory + "/" + file.name, atomically: true, encoding: .utf8)
        }
    }
}

/// `vision-queue nginx-snippets DIR`: writes the snippets the settings decide, for a deployment's nginx.
struct WriteNginxSnippets: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nginx-snippets",
        abstract: "Write the nginx snippets that follow from the settings (body limit, trigger sources) into a folder.")

    @Argument(help: "The folder, e.g. /etc/nginx/snippets/vision-queue.")
    var directory: String

    func run() throws {
        let snippets = NginxSnippets(try VisionQueueConfiguration())
        try snippets.write(into: directory)
        print("wrote \(snippets.files.map(\.name).joined(separator: ", ")) into \(directory); reload nginx")
    }
}
