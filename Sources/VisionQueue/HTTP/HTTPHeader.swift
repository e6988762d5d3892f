/// The request headers an endpoint may read: the one list of them.
///
/// A FastCGI responder gets each header as a parameter (`HTTP_AUTHORIZATION`), and turning every
/// one of nginx's twenty-odd parameters into a string would cost every request. The reader passes
/// exactly these instead, so a header read anywhere is listed here and a listed one always arrives.
public enum HTTPHeader: String, CaseIterable, Sendable {
    case authorization
    case contentType = "content-type"
    case contentLength = "content-length"
    case idempotencyKey = "idempotency-key"
    /// The shared secret the internal process endpoint requires.
    case triggerSecret = "x-trigger-secret"

    /// Its name among the FastCGI parameters, as nginx (and CGI) spell it.
    public var fastCGIParameter: String {
        let name = String(rawValue.uppercased().map { $0 == "-" ? "_" : $0 })
        switch self {
        case .contentType, .contentLength: return name  // CGI passes these two without the prefix
        default: return "HTTP_" + name
        }
    }
}
