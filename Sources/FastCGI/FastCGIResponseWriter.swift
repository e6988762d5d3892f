import CFastCGI
import VisionQueue

/// Writes an `HTTPResponse` as a FastCGI responder's CGI-style output.
enum FastCGIResponseWriter {
    static func write(_ response: HTTPResponse, head: Bool, to stream: UnsafeMutablePointer<FCGX_Stream>?) {
        guard let stream else { return }
        var output: [UInt8] = []
        output.reserveCapacity(256 + response.body.count)
        output.append(contentsOf: "Status: \(response.status) \(HTTPResponse.reason(for: response.status))\r\n".utf8)
        for (name, value) in response.headers {
            output.append(contentsOf: name.utf8)
            output.append(contentsOf: ": ".utf8)
            output.append(contentsOf: value.utf8)
            output.append(contentsOf: "\r\n".utf8)
        }
        output.append(contentsOf: "Content-Length: \(response.body.count)\r\n\r\n".utf8)
        if !head { output.append(contentsOf: response.body) }
        output.withUnsafeBytes { buffer in
            _ = FCGX_PutStr(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), stream)
        }
    }
}
