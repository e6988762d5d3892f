import Synchronization

/// Tokens whose signature and claims were checked, by their exact text. Bounded: when full it is
/// emptied and refills with the tokens in use. Only tokens that passed are stored, so a stream of
/// bad tokens cannot push good ones out or grow it. Shared by a process's worker threads.
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: JWTVerifier.VerifiedToken]>([:])
    private let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func lookup(_ token: String) -> JWTVerifier.VerifiedToken? {
        entries.withLock { $0[token] }
    }

    func insert(_ token: String, _ verified: JWTVerifier.VerifiedToken) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = verified
        }
    }
}
