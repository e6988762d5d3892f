/// Removes a secret from text that may quote it back (a provider's "Incorrect API key provided:
/// sk-..." message), before that text reaches a log, a stored error or an answer.
public struct SecretRedactor: Sendable {
    private let secrets: [String]

    /// Secrets shorter than 8 characters are matched whole only; longer ones also by any
    /// 8-character piece, so a key quoted in part (its start or its end) is caught too.
    public init(_ secrets: [String?]) {
        self.secrets = secrets.compactMap { $0 }.filter { !$0.isEmpty }
    }

    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets {
            result = result.replacingAll(secret, with: "[redacted]")
            let characters = Array(secret)
            guard characters.count > 8 else { continue }
            for start in 0...(characters.count - 8) {
                let piece = String(characters[start..<(start + 8)])
                if result.contains(piece) { result = result.replacingAll(piece, with: "[redacted]") }
            }
        }
        return result
    }
}

extension String {
    /// Every occurrence of `target` replaced (without Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
