
/// Decides who is calling.
///
/// With a JWT secret configured, the bearer token's `sub` is the user. Without one the service runs
/// in an explicit single-user development mode: every request is `developmentUserID`, and the
/// binaries say so when they start and the page says so too.
public struct Authenticator: Sendable {
    public static let developmentUserID = "local-user"

    private let verifier: JWTVerifier?
    private let log: Logger
    /// Tokens already verified: a page polls every 5 s with the same token, and checking the
    /// signature again each time is most of a poll's cost. Time is still checked on every request.
    private let verified = VerifiedTokenCache()

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
        if Self.mayCarryToken(request.query),
            request.queryItems.contains(where: { ["access_token", "token", "jwt"].contains($0.name.lowercased()) })
        {
            throw .unauthorized("Send the token in the Authorization header, not the URL.")
        }
        guard let header = request.header(.authorization), let token = Self.bearerToken(header) else {
            throw .unauthorized()
        }
        do {
            let identity: JWTVerifier.VerifiedToken
            if let known = verified.lookup(token) {
                identity = known
            } else {
                identity = try verifier.verify(token)
                verified.insert(token, identity)
            }
            try verifier.checkTime(identity, now: Double(Clock.now()) / 1000)
            return identity.userID
        } catch {
            log.info("rejected a bearer token: \(error.reason)")
            throw .unauthorized()
        }
    }

    /// The token of `Bearer <token>` (scheme in any case, spaces around the token ignored).
    static func bearerToken(_ header: String) -> String? {
        let bytes = Array(header.utf8)
        guard bytes.count > 7, bytes[6] == UInt8(ascii: " "),
            String(decoding: bytes[0..<6], as: UTF8.self).lowercased() == "bearer"
        else { return nil }
        var start = 7
        var end = bytes.count
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        guard start < end else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// A cheap look before decoding the query: only a query mentioning "token" or "jwt" can carry one.
    static func mayCarryToken(_ query: String) -> Bool {
        // Any "%" could spell a name in escapes; otherwise look for "token" / "jwt" in any case.
        var window: UInt64 = 0
        for byte in query.utf8 {
            if byte == UInt8(ascii: "%") { return true }
            window = window << 8 | UInt64(byte | 0x20)  // ASCII letters lowercased; others do not matter
            if window & 0xFF_FFFF_FFFF == 0x74_6F6B_656E || window & 0xFF_FFFF == 0x6A_7774 { return true }
        }
        return false
    }
}
