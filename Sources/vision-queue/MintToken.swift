import ArgumentParser
import Foundation
import VisionQueue

/// Prints an HS256 token for a user id, signed with the configured secret: for local use and tests.
struct MintToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mint-token", abstract: "Print a bearer token for a user id (signed with VQ_JWT_SECRET).")

    @Option(name: .long, help: "The user id (the token's sub claim).")
    var user: String

    @Option(name: .long, help: "Lifetime in seconds.")
    var ttl: Int = 86_400

    func run() throws {
        let configuration = try VisionQueueConfiguration()
        guard let secret = configuration.jwtSecret else {
            throw ValidationError("VQ_JWT_SECRET (or VQ_JWT_SECRET_FILE) is not set: there is nothing to sign with")
        }
        print(TokenMinter.token(subject: user, secret: secret, audience: configuration.jwtAudience,
                                issuer: configuration.jwtIssuer, expiresIn: ttl))
    }
}
