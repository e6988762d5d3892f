import Crypto

/// Signs deliveries as the Standard Webhooks specification describes, so a receiver verifies them
/// with any of its libraries: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
public struct WebhookSigner: Sendable {
    private let key: SymmetricKey

    /// `secret` as those libraries take it: `whsec_` and the key in base64. A secret without the
    /// prefix is used as it is (its UTF-8 bytes), as some receivers configure theirs.
    public init?(secret: String) {
        if secret.hasPrefix("whsec_") {
            guard let bytes = Base64URL.decodeStandard(secret.dropFirst("whsec_".count)), !bytes.isEmpty else { return nil }
            key = SymmetricKey(data: bytes)
        } else {
            guard !secret.isEmpty else { return nil }
            key = SymmetricKey(data: Array(secret.utf8))
        }
    }

    /// The `webhook-signature` value for one delivery; `timestamp` in whole seconds since 1970.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: key)
        return "v1," + Base64URL.encodeStandard(Array(mac))
    }

    /// The three headers of a delivery.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [String] {
        [
            "webhook-id: \(id)",
            "webhook-timestamp: \(timestamp)",
            "webhook-signature: \(signature(id: id, timestamp: timestamp, body: body))",
        ]
    }
}
