import CCurl

/// One HTTP POST whose answer is read as it arrives, on the calling thread (libcurl's easy
/// interface): the model calls. The self-trigger's non-blocking transfers live in `SelfTrigger`.
///
/// A worker thread makes one call at a time, so each call blocks its thread for as long as the
/// model writes; the lease keeper renews the category's lease meanwhile.
final class StreamingPost {
    struct Settings {
        var url: String
        var headers: [String]
        var body: [UInt8]
        /// The whole call, connection to last byte.
        var timeoutMillis: Int
        /// Nothing received for this long ends the call (a stalled stream).
        var stallSeconds: Int
    }

    /// How the call ended.
    struct Outcome {
        /// 0 when no status line arrived.
        var status: Int
        /// Response headers by lowercase name (the last of a repeated one).
        var headers: [String: String]
        var failure: Failure?
    }

    enum Failure: Equatable {
        case timedOut
        case stalled
        case connection(String)
        /// The receiver asked to stop.
        case aborted
    }

    /// Called with the status and every piece of the body; answers false to abort the call.
    private let onBody: (_ status: Int, _ bytes: [UInt8]) -> Bool
    private var status = 0
    private var headers: [String: String] = [:]
    private var lastByteAt: EpochMillis = 0

    init(onBody: @escaping (_ status: Int, _ bytes: [UInt8]) -> Bool) { self.onBody = onBody }

    /// Makes the call; returns when the answer ended, failed or was aborted.
    func perform(_ settings: Settings) -> Outcome {
        guard let easy = curl_easy_init() else {
            let reason = vq_curl_load_error().map { String(cString: $0) } ?? "libcurl cannot start a call"
            return Outcome(status: 0, headers: [:], failure: .connection(reason))
        }
        defer { curl_easy_cleanup(easy) }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in settings.headers { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }

        let started = Clock.now()
        lastByteAt = started
        var stream = vq_curl_stream(receiver: { context, kind, data, length in
            let call = Unmanaged<StreamingPost>.fromOpaque(context!).takeUnretainedValue()
            let bytes = Array(UnsafeRawBufferPointer(start: data, count: length))
            call.lastByteAt = Clock.now()
            if kind == 1 {
                call.readHeader(bytes)
                return 1
            }
            return call.onBody(call.status, bytes) ? 1 : 0
        }, context: Unmanaged.passUnretained(self).toOpaque())

        let code: CURLcode = settings.url.withCString { url in
            settings.body.withUnsafeBufferPointer { body in
                vq_curl_setopt_string(easy, CURLOPT_URL, url)
                vq_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
                vq_curl_setopt_long(easy, CURLOPT_POST, 1)
                vq_curl_setopt_pointer(easy, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
                vq_curl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, body.count)
                vq_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
                vq_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, settings.timeoutMillis)
                vq_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(settings.timeoutMillis, 15_000))
                // Less than one byte a second for `stallSeconds`: the stream has stalled.
                vq_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
                vq_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, settings.stallSeconds)
                vq_curl_setopt_long(easy, CURLOPT_ACCEPT_ENCODING, 0)
                // libcurl keeps the pointer for the whole transfer: one pointer, valid throughout.
                return withUnsafeMutablePointer(to: &stream) { pointer in
                    vq_curl_stream_to(easy, pointer)
                    return curl_easy_perform(easy)
                }
            }
        }
        let failure: Failure?
        switch code {
        case CURLE_OK: failure = nil
        case CURLE_OPERATION_TIMEDOUT:
            // libcurl reports the whole-call timeout, the connect timeout and the low-speed limit
            // alike: tell them apart.
            let elapsed = Clock.now() - started
            if elapsed + 500 >= Int64(settings.timeoutMillis) {
                failure = .timedOut
            } else if status == 0 {
                failure = .connection("no answer within \(elapsed / 1000) s")
            } else {
                failure = .stalled
            }
        case CURLE_WRITE_ERROR: failure = .aborted
        default: failure = .connection(String(cString: curl_easy_strerror(code)))
        }
        return Outcome(status: status, headers: headers, failure: failure)
    }

    /// A status line starts a new set of headers (after a `100 Continue`, say).
    private func readHeader(_ bytes: [UInt8]) {
        let line = String(decoding: bytes, as: UTF8.self).trimmed
        if line.hasPrefix("HTTP/") {
            let parts = line.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = [:]
        } else if let colon = line.firstIndex(of: ":") {
            headers[line[..<colon].lowercased().trimmed] = String(line[line.index(after: colon)...]).trimmed
        }
    }
}
