import Crypto

/// A shared secret (the trigger secret, the metrics and admin tokens) kept as its digest:
/// candidates are compared by digest, so the time a comparison takes says nothing about how much
/// of the secret matched.
public struct SecretDigest: Sendable {
    private let digest: SHA256.Digest

    public init(_ secret: String) {
        digest = SHA256.hash(data: Array(secret.utf8))
    }

    public func matches(_ candidate: String?) -> Bool {
        guard let candidate else { return false }
        return SHA256.hash(data: Array(candidate.utf8)) == digest
    }

    /// Whether `Authorization: Bearer <secret>` was sent.
    public func matchesBearer(_ authorization: String?) -> Bool {
        matches(authorization.flatMap(Authenticator.bearerToken))
    }
}
