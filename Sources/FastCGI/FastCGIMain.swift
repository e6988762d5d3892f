import Foundation
import VisionQueue

/// The whole of a binary's `main`: read the configuration and flags, serve, exit.
///
/// Flags: `--socket PATH` (default `$VQ_SOCKET_DIR/<binary>.sock`), `--threads N` (default
/// `VQ_THREADS`). Exits 0 after a clean stop, 1 when it cannot start.
public enum FastCGIMain {
    public static func run(binary: String, makeEndpoint: @escaping @Sendable (VisionQueueServices) throws -> Endpoint) -> Never {
        let log = Logger(label: binary)
        do {
            let services = try VisionQueueServices(binary: binary)
            var settings = FastCGIServer.Settings(
                socketPath: services.configuration.socketPath(for: binary),
                threads: services.configuration.threads,
                maxBodyBytes: services.configuration.maxBodyBytes,
                graceSeconds: services.configuration.shutdownGraceSeconds)
            var arguments = CommandLine.arguments.dropFirst().makeIterator()
            while let argument = arguments.next() {
                switch argument {
                case "--socket":
                    guard let path = arguments.next() else { throw ServerError("--socket needs a path") }
                    settings.socketPath = path
                case "--threads":
                    guard let text = arguments.next(), let count = Int(text), (1...256).contains(count) else {
                        throw ServerError("--threads needs a number from 1 to 256")
                    }
                    settings.threads = count
                case "--help", "-h":
                    print("usage: \(binary) [--socket PATH] [--threads N]   (settings: VQ_* environment variables, see README.md)")
                    exit(0)
                default:
                    throw ServerError("unknown argument \(argument)")
                }
            }
            try FastCGIServer(settings, log: services.log).run { try makeEndpoint(services) }
            exit(0)
        } catch {
            log.error("cannot start: \(error)")
            exit(1)
        }
    }
}
