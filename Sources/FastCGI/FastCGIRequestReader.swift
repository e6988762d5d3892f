import CFastCGI
import Glibc
import VisionQueue

/// Turns libfcgi's parameters and input stream into an `HTTPRequest`.
///
/// nginx sends twenty-odd parameters per request; only those of the listed headers (`HTTPHeader`)
/// are turned into Swift strings, straight from the C bytes, because this runs on every request.
enum FastCGIRequestReader {
    /// Every listed header, by its FastCGI parameter name.
    private static let listedHeaders: [(parameter: [UInt8], header: HTTPHeader)] = HTTPHeader.allCases.map {
        (Array($0.fastCGIParameter.utf8), $0)
    }

    private static let methodName = Array("REQUEST_METHOD".utf8)
    private static let documentURIName = Array("DOCUMENT_URI".utf8)
    private static let requestURIName = Array("REQUEST_URI".utf8)
    private static let queryName = Array("QUERY_STRING".utf8)

    static func read(_ request: FCGX_Request, maxBodyBytes: Int) -> HTTPRequest {
        var method = "GET"
        var path: String?
        var requestURI = "/"
        var query = ""
        var headers: [HTTPHeader: String] = [:]
        var cursor = request.envp
        while let entry = cursor?.pointee {
            cursor = cursor?.advanced(by: 1)
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let pair = UnsafeBufferPointer(start: bytes, count: length)
                guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { return }
                let name = UnsafeBufferPointer(rebasing: pair[..<equals])
                let value = { String(decoding: UnsafeBufferPointer(rebasing: pair[(equals + 1)...]), as: UTF8.self) }
                if name.elementsEqual(methodName) {
                    method = value()
                } else if name.elementsEqual(documentURIName) {
                    path = value()
                } else if name.elementsEqual(requestURIName) {
                    requestURI = value()
                } else if name.elementsEqual(queryName) {
                    query = value()
                } else if let listed = listedHeaders.first(where: { name.elementsEqual($0.parameter) }) {
                    // nginx sends CONTENT_TYPE and CONTENT_LENGTH empty when the request had none.
                    let text = value()
                    if !text.isEmpty || name.first == UInt8(ascii: "H") { headers[listed.header] = text }
                }
            }
        }
        let resolvedPath = path ?? String(requestURI.split(separator: "?", omittingEmptySubsequences: false).first ?? "/")

        var body: [UInt8] = []
        var tooLarge = false
        let contentLength = headers[.contentLength].flatMap { Int($0) }
        if let contentLength, contentLength > maxBodyBytes {
            tooLarge = true
        } else {
            let limit = (contentLength ?? maxBodyBytes) + 1
            body = readBody(request.in, upTo: min(limit, maxBodyBytes + 1))
            if body.count > maxBodyBytes {
                tooLarge = true
                body = []
            }
        }
        return HTTPRequest(method: method, path: resolvedPath, query: query, headers: headers, body: body, bodyTooLarge: tooLarge)
    }

    private static func readBody(_ stream: UnsafeMutablePointer<FCGX_Stream>?, upTo limit: Int) -> [UInt8] {
        guard let stream, limit > 0 else { return [] }
        var body = [UInt8](repeating: 0, count: min(limit, 4096))
        var count = 0
        while count < limit {
            if count == body.count { body.append(contentsOf: repeatElement(0, count: min(body.count, limit - count))) }
            let read = body.withUnsafeMutableBytes { buffer in
                FCGX_GetStr(buffer.baseAddress!.advanced(by: count).assumingMemoryBound(to: CChar.self), Int32(buffer.count - count), stream)
            }
            if read <= 0 { break }
            count += Int(read)
        }
        body.removeSubrange(count...)
        return body
    }
}
