/// How a series is written, as a Prometheus sample line writes it: `name{a="x",b="y"}` with the
/// labels sorted, so one series has one key in every process.
enum SeriesKey {
    static func render(_ name: String, _ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return name }
        let sorted = labels.sorted { $0.0 < $1.0 }
        return name + "{" + sorted.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// A bucket bound as `le` writes it: `0.005`, `1`, `300`.
    static func bound(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// The name of a key, and its labels as written (between the braces), for grouping a scrape.
    static func split(_ key: String) -> (name: String, labels: String) {
        guard let brace = key.firstIndex(of: "{") else { return (key, "") }
        return (String(key[..<brace]), String(key[key.index(after: brace)...].dropLast()))
    }
}
