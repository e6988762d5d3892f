import Foundation
import Testing
@testable import VisionQueue

@Suite("Authenticator")
struct AuthenticatorTests {
    static let secret = "authenticator-test-secret"

    private func jwtAuthenticator() throws -> Authenticator {
        Authenticator(configuration: try VisionQueueConfiguration(environment: ["VQ_JWT_SECRET": Self.secret]), log: quietLog)
    }

    private func request(authorization: String? = nil, query: String = "") -> HTTPRequest {
        HTTPRequest(
            method: "GET", path: StatusEndpoint.mePath, query: query,
            headers: authorization.map { [.authorization: $0] } ?? [:])
    }

    private static func validToken(_ subject: String = "user-9") -> String {
        TokenMinter.token(subject: subject, secret: secret)
    }

    @Test func developmentModeIsTheLocalUserWhateverIsSent() throws {
        let authenticator = Authenticator(configuration: try VisionQueueConfiguration(environment: [:]), log: quietLog)
        #expect(authenticator.developmentMode)
        #expect(try authenticator.userID(for: request()) == "local-user")
        #expect(try authenticator.userID(for: request(authorization: "Bearer nonsense")) == "local-user")
        #expect(try authenticator.userID(for: request(authorization: "Bearer " + Self.validToken("someone-else"))) == "local-user")
    }

    @Test(arguments: ["Bearer ", "bearer ", "BEARER ", "Bearer  "])
    func jwtModeAnswersTheTokensSubject(_ scheme: String) throws {
        let authenticator = try jwtAuthenticator()
        #expect(!authenticator.developmentMode)
        #expect(try authenticator.userID(for: request(authorization: scheme + Self.validToken())) == "user-9")
    }

    static let refusals: [(String, String?, String)] = [
        ("missing header", nil, ""),
        ("Basic scheme", "Basic dXNlcjpwYXNz", ""),
        ("Basic scheme carrying a valid JWT", "Basic " + validToken(), ""),
        ("scheme only", "Bearer", ""),
        ("token without scheme", validToken(), ""),
        ("garbage token", "Bearer not.a.token", ""),
        ("token signed with another secret", "Bearer " + TokenMinter.token(subject: "x", secret: "other"), ""),
        ("expired token", "Bearer " + TokenMinter.token(subject: "x", secret: secret, now: Date().timeIntervalSince1970 - 7_200), ""),
        ("token in the query string", nil, "access_token=" + validToken()),
        ("token in the query string, header valid too", "Bearer " + validToken(), "jobId=1&access_token=" + validToken()),
        ("token= in the query string", "Bearer " + validToken(), "token=" + validToken()),
        ("upper-case query name", "Bearer " + validToken(), "ACCESS_TOKEN=abc"),
    ]

    @Test(arguments: refusals)
    func refusalsAre401WithAChallenge(_ name: String, _ authorization: String?, _ query: String) throws {
        let authenticator = try jwtAuthenticator()
        let error = try #require(apiError { _ = try authenticator.userID(for: request(authorization: authorization, query: query)) })
        #expect(error.status == 401)
        #expect(error.code == "unauthorized")
        let response = error.response
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate") == "Bearer realm=\"vision-queue\"")
        #expect(try errorCode(of: response) == "unauthorized")
    }

    @Test func everyBadTokenGetsTheSameAnswer() throws {
        // Which check failed is logged, not told: the client cannot probe claim by claim.
        let authenticator = try jwtAuthenticator()
        let wrongSecret = apiError { _ = try authenticator.userID(for: request(authorization: "Bearer " + TokenMinter.token(subject: "x", secret: "other"))) }
        let wrongAudience = apiError { _ = try authenticator.userID(for: request(authorization: "Bearer " + TokenMinter.token(subject: "x", secret: Self.secret, audience: "anon"))) }
        let missing = apiError { _ = try authenticator.userID(for: request()) }
        #expect(wrongSecret?.response == missing?.response)
        #expect(wrongAudience?.response == missing?.response)
    }
}
