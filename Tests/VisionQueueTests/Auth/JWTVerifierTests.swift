import Foundation
import Testing
@testable import VisionQueue

private let secret = "unit-test-secret-0123456789abcdef"
private let now: Double = 1_700_000_000
private let defaultVerifier = JWTVerifier(secret: secret)  // audience "authenticated", no issuer, 30 s leeway
private let issuerVerifier = JWTVerifier(secret: secret, issuer: "https://auth.example.com/auth/v1")

private func payload(_ fields: String) -> String { "{\(fields)}" }
private let validClaims = #""sub":"user-1","aud":"authenticated","exp":1700003600"#
private let hs256Header = #"{"alg":"HS256","typ":"JWT"}"#

/// One token the verifier must accept or reject, and why.
struct TokenCase: Sendable, CustomTestStringConvertible {
    var name: String
    var token: String
    var verifier: JWTVerifier = defaultVerifier
    /// The sub it must answer, or nil when it must be rejected.
    var sub: String? = nil
    /// For rejections: the check that must be the one that failed.
    var reason: String? = nil

    var testDescription: String { name }
}

private func minted(
    _ subject: String = "user-1", secret: String = secret, audience: String? = "authenticated", issuer: String? = nil,
    expiresIn: Int = 3600, notBefore: Double? = nil, at issued: Double = now
) -> String {
    TokenMinter.token(
        subject: subject, secret: secret, audience: audience, issuer: issuer, expiresIn: expiresIn, notBefore: notBefore,
        now: issued)
}

private func signed(_ claims: String, header: String = hs256Header) -> String {
    handSignedToken(header: header, payload: payload(claims), secret: secret)
}

/// The token with one part replaced.
private func replacingPart(_ index: Int, of token: String, with part: String) -> String {
    var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    parts[index] = part
    return parts.joined(separator: ".")
}

private func flippingFirstCharacter(ofPart index: Int, in token: String) -> String {
    let part = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)[index]
    let flipped = (part.first == "A" ? "B" : "A") + part.dropFirst()
    return replacingPart(index, of: token, with: flipped)
}

@Suite("JWTVerifier")
struct JWTVerifierTests {
    static let accepted: [TokenCase] = [
        TokenCase(name: "minted token", token: minted("user-42"), sub: "user-42"),
        TokenCase(name: "expired but within leeway", token: minted(expiresIn: -29), sub: "user-1"),
        TokenCase(name: "nbf in the future but within leeway", token: minted(notBefore: now + 29), sub: "user-1"),
        TokenCase(name: "nbf in the past", token: minted(notBefore: now - 60), sub: "user-1"),
        TokenCase(
            name: "aud array containing the audience",
            token: signed(#""sub":"user-1","aud":["other","authenticated"],"exp":1700003600"#), sub: "user-1"),
        TokenCase(
            name: "matching issuer", token: minted(issuer: "https://auth.example.com/auth/v1"), verifier: issuerVerifier,
            sub: "user-1"),
        TokenCase(
            name: "no audience configured accepts any aud", token: minted(audience: "anon"),
            verifier: JWTVerifier(secret: secret, audience: nil), sub: "user-1"),
        TokenCase(name: "hand-signed with extra claims", token: signed(validClaims + #","role":"authenticated","email":"a@b.c""#), sub: "user-1"),
        TokenCase(name: "unicode sub", token: minted("ユーザー"), sub: "ユーザー"),
    ]

    @Test(arguments: accepted)
    func acceptsValidTokens(_ testCase: TokenCase) throws {
        #expect(try testCase.verifier.userID(fromToken: testCase.token, now: now) == testCase.sub)
    }

    static let rejected: [TokenCase] = [
        TokenCase(name: "expired beyond leeway", token: minted(expiresIn: -31), reason: "expired"),
        TokenCase(name: "expired exactly at the leeway", token: minted(expiresIn: -30), reason: "expired"),
        TokenCase(name: "nbf in the future", token: minted(notBefore: now + 60), reason: "not yet valid"),
        TokenCase(name: "nbf not a number", token: signed(validClaims + #","nbf":"soon""#), reason: "nbf not a number"),
        TokenCase(name: "wrong aud", token: minted(audience: "anon"), reason: "wrong audience"),
        TokenCase(name: "missing aud", token: minted(audience: nil), reason: "wrong audience"),
        TokenCase(
            name: "aud array without the audience", token: signed(#""sub":"user-1","aud":["anon"],"exp":1700003600"#),
            reason: "wrong audience"),
        TokenCase(
            name: "wrong iss", token: minted(issuer: "https://evil.example.com"), verifier: issuerVerifier,
            reason: "wrong issuer"),
        TokenCase(name: "missing iss", token: minted(), verifier: issuerVerifier, reason: "wrong issuer"),
        TokenCase(
            name: "tampered payload",
            token: replacingPart(
                1, of: minted("user-1"),
                with: Base64URL.encode(Array(#"{"sub":"admin","aud":"authenticated","exp":1700003600}"#.utf8))),
            reason: "bad signature"),
        TokenCase(name: "tampered signature", token: flippingFirstCharacter(ofPart: 2, in: minted()), reason: "bad signature"),
        TokenCase(name: "signature removed", token: replacingPart(2, of: minted(), with: ""), reason: "bad signature"),
        TokenCase(
            name: "alg none with empty signature",
            token: Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "."
                + Base64URL.encode(Array(payload(validClaims).utf8)) + ".",
            reason: "alg is not HS256"),
        TokenCase(
            name: "alg none, even correctly MACed", token: signed(validClaims, header: #"{"alg":"none"}"#),
            reason: "alg is not HS256"),
        TokenCase(
            name: "alg HS512 header", token: signed(validClaims, header: #"{"alg":"HS512","typ":"JWT"}"#),
            reason: "alg is not HS256"),
        TokenCase(name: "alg missing", token: signed(validClaims, header: #"{"typ":"JWT"}"#), reason: "alg is not HS256"),
        TokenCase(
            name: "crit header", token: signed(validClaims, header: #"{"alg":"HS256","crit":["exp"]}"#),
            reason: "crit header not supported"),
        TokenCase(name: "header not an object", token: signed(validClaims, header: #"["HS256"]"#), reason: "header is not a JSON object"),
        TokenCase(name: "payload not an object", token: handSignedToken(header: hs256Header, payload: "[]", secret: secret), reason: "payload is not a JSON object"),
        TokenCase(name: "missing sub", token: signed(#""aud":"authenticated","exp":1700003600"#), reason: "sub missing, empty or invalid"),
        TokenCase(name: "empty sub", token: minted(""), reason: "sub missing, empty or invalid"),
        TokenCase(name: "sub not a string", token: signed(#""sub":42,"aud":"authenticated","exp":1700003600"#), reason: "sub missing, empty or invalid"),
        TokenCase(name: "sub with a control character", token: minted("user\n1"), reason: "sub missing, empty or invalid"),
        TokenCase(name: "missing exp", token: signed(#""sub":"user-1","aud":"authenticated""#), reason: "exp missing or not a number"),
        TokenCase(name: "exp as a string", token: signed(#""sub":"user-1","aud":"authenticated","exp":"1700003600""#), reason: "exp missing or not a number"),
        TokenCase(name: "exp infinite", token: signed(#""sub":"user-1","aud":"authenticated","exp":1e999"#), reason: "exp missing or not a number"),
        TokenCase(name: "two parts", token: minted().split(separator: ".").prefix(2).joined(separator: "."), reason: "not a JWS compact token"),
        TokenCase(name: "four parts", token: minted() + ".", reason: "not a JWS compact token"),
        TokenCase(name: "empty", token: "", reason: "not a JWS compact token"),
        TokenCase(name: "bad base64 in the header", token: replacingPart(0, of: minted(), with: "e30@"), reason: "bad base64url"),
        TokenCase(name: "standard base64 alphabet", token: replacingPart(2, of: minted(), with: "ab+/"), reason: "bad base64url"),
        TokenCase(name: "padding '=' on the signature", token: minted() + "=", reason: "bad base64url"),
        TokenCase(name: "padding '=' on the payload",
                  token: replacingPart(1, of: minted(), with: Base64URL.encode(Array(payload(validClaims + " ").utf8)) + "="),
                  reason: "bad base64url"),
        TokenCase(name: "impossible base64 length", token: replacingPart(0, of: minted(), with: "abcde"), reason: "bad base64url"),
        TokenCase(name: "wrong secret", token: minted(secret: "another-secret"), reason: "bad signature"),
        TokenCase(name: "oversized", token: minted(String(repeating: "x", count: 9_000)), reason: "token too long"),
    ]

    @Test(arguments: rejected)
    func rejectsInvalidTokens(_ testCase: TokenCase) {
        do {
            let sub = try testCase.verifier.userID(fromToken: testCase.token, now: now)
            Issue.record("accepted, as \(sub)")
        } catch {
            #expect(error.reason == testCase.reason)
        }
    }

    @Test func aTokenIsOnlyValidBetweenNotBeforeAndExpiry() throws {
        let token = minted(expiresIn: 600, notBefore: now + 100)
        #expect(throws: JWTVerifier.Rejection.self) { try defaultVerifier.userID(fromToken: token, now: now) }
        #expect(try defaultVerifier.userID(fromToken: token, now: now + 100) == "user-1")
        #expect(try defaultVerifier.userID(fromToken: token, now: now + 629) == "user-1")
        #expect(throws: JWTVerifier.Rejection.self) { try defaultVerifier.userID(fromToken: token, now: now + 630) }
    }

    @Test func leewayIsConfigurable() throws {
        let strict = JWTVerifier(secret: secret, leewaySeconds: 0)
        #expect(throws: JWTVerifier.Rejection.self) { try strict.userID(fromToken: minted(expiresIn: -1), now: now) }
        #expect(try strict.userID(fromToken: minted(expiresIn: 1), now: now) == "user-1")
    }
}
