import Foundation
import VisionQueue

/// The sweep `vision-queue serve` runs by itself, so a local or single-machine install needs no
/// cron entry: once at start for every unfinished job (resuming what a stop or crash interrupted),
/// then every `interval` seconds for jobs stalled longer than `VQ_STALL_SECONDS`.
enum SweepLoop {
    static func start(environment: [String: String], interval: Int, log: Logger) throws {
        let configuration = try VisionQueueConfiguration(environment: environment)
        let thread = Thread {
            var firstPass = true
            var sweeper: Sweeper?
            while true {
                do {
                    if sweeper == nil { sweeper = try makeSweeper(configuration, log: log) }
                    if firstPass {
                        try sweeper!.resumeAll()
                    } else {
                        try sweeper!.sweep(stallMillis: configuration.stallMillis, kickWindowMillis: configuration.stallMillis)
                    }
                    firstPass = false
                } catch {
                    log.error("sweep failed: \(error)")
                }
                sleep(UInt32(interval))
            }
        }
        thread.name = "sweep"
        thread.start()
    }

    static func makeSweeper(_ configuration: VisionQueueConfiguration, log: Logger) throws -> Sweeper {
        guard let secret = configuration.triggerSecret else { throw ConfigurationError("no trigger secret") }
        let stores = JobStoreFactory(configuration: configuration)
        try stores.migrate()
        let store = try stores.open()
        let trigger = SelfTrigger(SelfTrigger.Settings(url: configuration.triggerURL, secret: secret), log: log)
        return Sweeper(store: store, trigger: trigger, lifecycle: configuration.lifecycle, log: log)
    }
}
