import Foundation
import CFastCGI
import VisionQueue

/// Turns libfcgi's parameters and input stream into an `HTTPRequest`.
enum FastCGIRequestReader {
    static func read(_ request: FCGX_Request, maxBodyBytes: Int) -> HTTPRequest {
        var method = "GET"
        var path: String?
        var requestURI = "/"
        var query = ""
        var headers: [String: String] = [:]
        var contentLength: Int?
        var cursor = request.envp
        while let entry = cursor?.pointee {
            let pair = String(cString: entry)
            cursor = cursor?.advanced(by: 1)
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = pair[..<equals]
            let value = String(pair[pair.index(after: equals)...])
            switch name {
            case "REQUEST_METHOD": method = value
            case "DOCUMENT_URI": path = value
            case "REQUEST_URI": requestURI = value
            case "QUERY_STRING": query = value
            case "CONTENT_TYPE": if !value.isEmpty { headers["content-type"] = value }
            case "CONTENT_LENGTH": contentLength = Int(value); if !value.isEmpty { headers["content-length"] = value }
            default:
                if name.hasPrefix("HTTP_") {
                    headers[name.dropFirst(5).lowercased().replacingOccurrences(of: "_", with: "-")] = value
                }
            }
        }
        let resolvedPath = path ?? String(requestURI.split(separator: "?", omittingEmptySubsequences: false).first ?? "/")

        var body: [UInt8] = []
        var tooLarge = false
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
        var body = [UInt8](repeating: 0, count: min(limit, 65_536 + 1))
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
