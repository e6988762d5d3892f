import Foundation

/// Decides who is calling.
///
/// With a JWT secret configured, the bearer token's `sub` is the user. Without one the service runs
/// in an explicit single-user development mode: every request is `developmentUserID`, and the
/// binaries say so when they start and the page says so too.
public struct Authenticator: Sendable {
    public static let developmentUserID = "local-user"

    private let verifier: JWTVerifier?
    private let log: Logger

    public init(configuration: VisionQueueConfiguration, log: Logger) {
        verifier = configuration.jwtSecret.map {
            JWTVerifier(
                secret: $0, audience: configuration.jwtAudience, issuer: configuration.jwtIssuer,
                leewaySeconds: configuration.jwtLeewaySeconds)
        }
        self.log = log
    }

    public init(verifier: JWTVerifier?, log: Logger) {
        self.verifier = verifier
        self.log = log
    }

    public var developmentMode: Bool { verifier == nil }

    public func userID(for request: HTTPRequest) throws(APIError) -> String {
        guard let verifier else { return Self.developmentUserID }
        // Tokens in URLs end up in logs and Referer headers: refuse them even when a header is present.
        if request.queryItems.contains(where: { ["access_token", "token", "jwt"].contains($0.name.lowercased()) }) {
            throw .unauthorized("Send the token in the Authorization header, not the URL.")
        }
        guard let header = request.header("authorization") else { throw .unauthorized() }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .unauthorized() }
        do {
            return try verifier.userID(fromToken: String(parts[1]).trimmingCharacters(in: .whitespaces))
        } catch {
            log.info("rejected a bearer token: \(error.reason)")
            throw .unauthorized()
        }
    }
}
