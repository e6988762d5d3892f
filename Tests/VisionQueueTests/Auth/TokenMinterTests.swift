import Testing
@testable import VisionQueue

@Suite("TokenMinter")
struct TokenMinterTests {
    @Test func independentHMACMatchesRFC4231() {
        // RFC 4231 test case 2, so the hand-signed tokens in JWTVerifierTests are signed correctly.
        let mac = TestHMAC.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(TestHMAC.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func mintsAStandardHS256Token() throws {
        let secret = "minter-secret"
        let token = TokenMinter.token(subject: "user-7", secret: secret, expiresIn: 120, notBefore: 1_700_000_000, now: 1_700_000_000.9)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let headerBytes = try #require(Base64URL.decode(parts[0]))
        #expect(try JSONParser.parse(headerBytes) == .object(["alg": .string("HS256"), "typ": .string("JWT")]))
        let payloadBytes = try #require(Base64URL.decode(parts[1]))
        let claims = try #require(try JSONParser.parse(payloadBytes).objectValue)
        #expect(claims["sub"] == .string("user-7"))
        #expect(claims["aud"] == .string("authenticated"))
        #expect(claims["exp"] == .number("1700000120"))
        #expect(claims["nbf"] == .number("1700000000"))
        #expect(claims["iat"] == .number("1700000000"))
        // Any HS256 implementation verifies it: the signature is HMAC-SHA256 over "header.payload".
        let expected = TestHMAC.hmacSHA256(key: Array(secret.utf8), message: Array("\(parts[0]).\(parts[1])".utf8))
        #expect(Base64URL.decode(parts[2]) == expected)
        #expect(!token.contains("="))
    }

    @Test func audienceAndIssuerAreWrittenOnlyWhenGiven() throws {
        let token = TokenMinter.token(subject: "u", secret: "s", audience: nil, issuer: "https://issuer.example", now: 1_700_000_000)
        let payload = try #require(Base64URL.decode(token.split(separator: ".")[1]))
        let claims = try #require(try JSONParser.parse(payload).objectValue)
        #expect(claims["aud"] == nil)
        #expect(claims["iss"] == .string("https://issuer.example"))
        #expect(claims["nbf"] == nil)
    }
}
