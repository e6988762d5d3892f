import ArgumentParser
import Foundation
import VisionQueue

/// `vision-queue sweep`: one pass of orphan recovery, for cron or a systemd timer. Triggers every
/// job that has work due, no live lease and no progress for `VQ_STALL_SECONDS`, spread out in
/// time, and exits once the triggers are sent.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find stalled jobs (lost triggers, dead workers) and trigger them again.")

    @Flag(help: "Resume every unfinished job with work due now, however recent (after a restart).")
    var all = false

    func run() throws {
        let configuration = try VisionQueueConfiguration()
        let log = configuration.logger("vision-queue sweep")
        SharedFileMetrics.bootstrap(directory: configuration.metricsDirectory, log: log)
        let sweeper = try SweepLoop.makeSweeper(configuration, log: log)
        let count = try all
            ? sweeper.resumeAll()
            : sweeper.sweep(stallMillis: configuration.stallMillis, kickWindowMillis: configuration.stallMillis)
        // Wait for the spread-out triggers to go out before exiting.
        let deadline = Clock.now() + Int64(count) * 40 + 30_000
        while sweeper.outstandingTriggers > 0 && Clock.now() < deadline { usleep(20_000) }
        print("triggered \(count) stalled job\(count == 1 ? "" : "s")")
    }
}
