import Foundation

/// Lays out nginx's working folder for a local run: the rendered nginx.conf plus copies of the
/// shipped snippets, so relative includes resolve exactly as they do under /etc/nginx.
struct NginxSetup {
    var repositoryRoot: String
    var prefix: String
    var logDirectory: String
    var socketDirectory: String
    var host: String
    var port: Int
    var accessLog: Bool
    /// The snippets the settings decide (body limit, trigger sources).
    var snippets: NginxSnippets

    var configPath: String { prefix + "/nginx.conf" }

    func write() throws {
        let fm = FileManager.default
        let snippets = prefix + "/snippets/vision-queue"
        try fm.createDirectory(atPath: snippets, withIntermediateDirectories: true)
        for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            try fm.createDirectory(atPath: prefix + "/" + temp, withIntermediateDirectories: true)
        }
        let source = repositoryRoot + "/nginx"
        for file in ["vision-queue-locations.conf", "vision-queue-fastcgi.conf", "vision-queue-headers.conf"] {
            try copy(source + "/" + file, to: snippets + "/" + file)
        }
        try self.snippets.write(into: snippets)
        try copy(source + "/mime.types", to: prefix + "/mime.types")
        let template = try String(contentsOfFile: source + "/local.conf.template", encoding: .utf8)
        try render(template).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func render(_ template: String) -> String {
        // Started as root, nginx would drop its workers to `nobody`, who cannot reach sockets in the
        // data folder: keep them as the user who started the run.
        let userDirective: String
        if geteuid() == 0 {
            let group = getgrgid(getegid()).map { String(cString: $0.pointee.gr_name) } ?? "root"
            userDirective = "user root \(group);"
        } else {
            userDirective = "# running unprivileged: workers stay this user"
        }
        let values: [String: String] = [
            "USER_DIRECTIVE": userDirective,
            "WORKER_PROCESSES": "2",
            "PREFIX": prefix,
            "LOG_DIR": logDirectory,
            "ACCESS_LOG": accessLog ? logDirectory + "/nginx-access.log" : "off",
            "SOCKET_DIR": socketDirectory,
            "HOST": host,
            // The self-trigger calls 127.0.0.1: listen there too when bound to one other address.
            "LOOPBACK_LISTEN": ["127.0.0.1", "0.0.0.0", "localhost"].contains(host) ? "" : "listen 127.0.0.1:\(port);",
            "PORT": String(port),
            "WWW_DIR": repositoryRoot + "/www",
        ]
        var text = template
        for (name, value) in values { text = text.replacingOccurrences(of: "{{\(name)}}", with: value) }
        return text
    }

    private func copy(_ from: String, to: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: to) { try fm.removeItem(atPath: to) }
        try fm.copyItem(atPath: from, toPath: to)
    }
}
