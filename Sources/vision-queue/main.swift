import ArgumentParser
import Foundation
import VisionQueue

struct VisionQueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision-queue",
        abstract: "Runs and administers a Vision Queue installation.",
        subcommands: [Serve.self, Sweep.self, MintToken.self, WriteNginxSnippets.self])
}

VisionQueueCommand.main()
