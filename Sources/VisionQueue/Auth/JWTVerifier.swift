import Crypto

/// Verifies HS256 JSON Web Tokens as Supabase issues them and answers the user id (`sub`).
///
/// The algorithm is pinned: the header must say HS256, whatever else it says, so `alg: none` and
/// key-confusion tricks fail. Every failure throws the same 401; `reason` (for the log) says which
/// check failed.
public struct JWTVerifier: Sendable {
    public struct Rejection: Error, Equatable, Sendable {
        public var reason: String
    }

    private let key: SymmetricKey
    public var audience: String?
    public var issuer: String?
    public var leewaySeconds: Int

    public init(secret: String, audience: String? = "authenticated", issuer: String? = nil, leewaySeconds: Int = 30) {
        key = SymmetricKey(data: Array(secret.utf8))
        self.audience = audience
        self.issuer = issuer
        self.leewaySeconds = leewaySeconds
    }

    /// What a token proved, apart from time: who it is for and when it is valid.
    public struct VerifiedToken: Sendable, Equatable {
        public var userID: String
        public var expiresAt: Double
        public var notBefore: Double?
    }

    /// The token's `sub` if it is valid at `now` (seconds since 1970).
    public func userID(fromToken token: String, now: Double = Double(Clock.now()) / 1000) throws(Rejection) -> String {
        let verified = try verify(token)
        try checkTime(verified, now: now)
        return verified.userID
    }

    /// Everything but time: form, algorithm, signature, audience, issuer and subject. The answer
    /// depends on the token text alone, so it may be cached by that text (see `Authenticator`).
    public func verify(_ token: String) throws(Rejection) -> VerifiedToken {
        guard token.utf8.count <= 8192 else { throw Rejection(reason: "token too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw Rejection(reason: "not a JWS compact token") }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw Rejection(reason: "bad base64url") }
        guard case .object(let header)? = try? JSONParser.parse(headerBytes, maxDepth: 4) else {
            throw Rejection(reason: "header is not a JSON object")
        }
        guard header["alg"] == .string("HS256") else { throw Rejection(reason: "alg is not HS256") }
        if header["crit"] != nil { throw Rejection(reason: "crit header not supported") }
        let signed = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(signed), using: key) else {
            throw Rejection(reason: "bad signature")
        }
        guard case .object(let claims)? = try? JSONParser.parse(payloadBytes, maxDepth: 8) else {
            throw Rejection(reason: "payload is not a JSON object")
        }
        guard let exp = Self.number(claims["exp"]) else { throw Rejection(reason: "exp missing or not a number") }
        var notBefore: Double?
        if let nbfValue = claims["nbf"] {
            guard let nbf = Self.number(nbfValue) else { throw Rejection(reason: "nbf not a number") }
            notBefore = nbf
        }
        if let audience {
            switch claims["aud"] {
            case .string(let value)? where value == audience: break
            case .array(let values)? where values.contains(.string(audience)): break
            default: throw Rejection(reason: "wrong audience")
            }
        }
        if let issuer, claims["iss"] != .string(issuer) { throw Rejection(reason: "wrong issuer") }
        guard case .string(let sub)? = claims["sub"], !sub.isEmpty, sub.utf8.count <= 255,
            !sub.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw Rejection(reason: "sub missing, empty or invalid") }
        return VerifiedToken(userID: sub, expiresAt: exp, notBefore: notBefore)
    }

    /// `exp` and `nbf` against `now`, with the leeway.
    public func checkTime(_ token: VerifiedToken, now: Double) throws(Rejection) {
        let leeway = Double(leewaySeconds)
        guard now < token.expiresAt + leeway else { throw Rejection(reason: "expired") }
        if let notBefore = token.notBefore, now + leeway < notBefore { throw Rejection(reason: "not yet valid") }
    }

    private static func number(_ value: JSONValue?) -> Double? {
        guard case .number(let text)? = value, let number = Double(text), number.isFinite else { return nil }
        return number
    }
}

/// Makes HS256 tokens for local use and tests (`vision-queue mint-token`).
public enum TokenMinter {
    public static func token(
        subject: String, secret: String, audience: String? = "authenticated", issuer: String? = nil,
        expiresIn: Int = 3600, notBefore: Double? = nil, now: Double = Double(Clock.now()) / 1000
    ) -> String {
        var header = JSONWriter()
        header.object { $0.field("alg", "HS256"); $0.field("typ", "JWT") }
        var payload = JSONWriter()
        payload.object { json in
            json.field("sub", subject)
            if let audience { json.field("aud", audience) }
            if let issuer { json.field("iss", issuer) }
            json.field("role", "authenticated")
            json.field("iat", Int(now))
            if let notBefore { json.field("nbf", Int(notBefore)) }
            json.field("exp", Int(now) + expiresIn)
        }
        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(payload.bytes)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return signingInput + "." + Base64URL.encode(mac)
    }
}
