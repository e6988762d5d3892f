/// Who may use the operator's endpoints: requests bearing `VQ_ADMIN_TOKEN`. A user's valid token
/// is recognised and refused with 403 (signed in, not allowed); anything else is 401.
public struct AdminAccess: Sendable {
    private let token: SecretDigest
    private let users: Authenticator

    /// Nil when `VQ_ADMIN_TOKEN` is unset: the operator's endpoints are then not served at all.
    public init?(token: String?, users: Authenticator) {
        guard let token else { return nil }
        self.token = SecretDigest(token)
        self.users = users
    }

    public func authorize(_ request: HTTPRequest) throws(APIError) {
        let header = request.header(.authorization)
        if token.matchesBearer(header) { return }
        if header != nil, !users.developmentMode, (try? users.userID(for: request)) != nil {
            throw .forbidden("This endpoint is for operators; a user's token cannot use it.")
        }
        throw .unauthorized("The operator's token (VQ_ADMIN_TOKEN) is required, as a bearer token.")
    }
}
