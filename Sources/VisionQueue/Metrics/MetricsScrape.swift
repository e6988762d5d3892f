/// What one scrape sees: every series of every process's file added up, and the levels read from
/// the database, ready to be written in the Prometheus text format.
///
/// How processes combine: counters (and histogram buckets, sums and counts) are summed over every
/// file in the folder, those of processes that have died included, so nothing counted is lost when
/// a worker is replaced (its successor takes its file over and counts on). Gauges are summed over
/// the files whose owner is alive. Counters restart from zero only if the folder is deleted, which
/// Prometheus reads as a counter reset.
public struct MetricsScrape: Sendable {
    /// Series key (`name{labels}`) to value.
    public private(set) var samples: [String: Double] = [:]

    public init() {}

    /// Adds up every metrics file in `directory`.
    public static func read(directory: String) -> MetricsScrape {
        var scrape = MetricsScrape()
        var live = 0
        for (file, isLive) in MetricsFile.openAll(in: directory) {
            if isLive { live += 1 }
            for entry in file.entries() {
                switch entry.kind {
                case .counter: scrape.samples[entry.key, default: 0] += Double(entry.value)
                case .nanoseconds: scrape.samples[entry.key, default: 0] += Double(entry.value) / 1e9
                case .gauge where isLive: scrape.samples[entry.key, default: 0] += Double(Int64(bitPattern: entry.value))
                case .gauge: break
                }
            }
        }
        scrape.set(.processes, to: Double(live))
        return scrape
    }

    /// Sets one series (a level read from the database).
    public mutating func set(_ family: MetricFamily, _ labels: [(String, String)] = [], to value: Double) {
        samples[SeriesKey.render(family.name, labels)] = value
    }

    /// The value of one series, for tests and the operator page.
    public func value(_ family: MetricFamily, _ labels: [(String, String)] = []) -> Double? {
        samples[SeriesKey.render(family.name, labels)]
    }

    /// The Prometheus text format (version 0.0.4): each family of `MetricFamily.all` with its
    /// `# HELP` and `# TYPE`, its series sorted, a histogram's buckets in order of their bounds.
    public func exposition() -> String {
        var byName: [String: [(labels: String, key: String)]] = [:]
        for key in samples.keys {
            let (name, labels) = SeriesKey.split(key)
            byName[name, default: []].append((labels, key))
        }
        var out = ""
        for family in MetricFamily.all {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            switch family.kind {
            case .counter, .gauge:
                for item in (byName[family.name] ?? []).sorted(by: { $0.labels < $1.labels }) { line(&out, item.key, samples[item.key]!) }
            case .histogram:
                // One histogram per label set of its `_count`; buckets follow the family's bounds.
                for count in (byName[family.name + "_count"] ?? []).sorted(by: { $0.labels < $1.labels }) {
                    let labels = Self.labels(count.labels)
                    for bound in family.buckets.map(SeriesKey.bound) + ["+Inf"] {
                        let key = SeriesKey.render(family.name + "_bucket", labels + [("le", bound)])
                        line(&out, key, samples[key] ?? 0)
                    }
                    let sum = SeriesKey.render(family.name + "_sum", labels)
                    line(&out, sum, samples[sum] ?? 0)
                    line(&out, count.key, samples[count.key]!)
                }
            }
        }
        return out
    }

    private func line(_ out: inout String, _ key: String, _ value: Double) {
        out += key
        out += " "
        out += value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        out += "\n"
    }

    /// The labels of a key as `SeriesKey.render` wrote them (values escaped, in quotes).
    static func labels(_ text: String) -> [(String, String)] {
        var labels: [(String, String)] = []
        var characters = Array(text)[...]
        while let equals = characters.firstIndex(of: "=") {
            let name = String(characters[..<equals])
            characters = characters[(equals + 2)...]  // past `="`
            var value = ""
            while let character = characters.popFirst(), character != "\"" {
                if character == "\\", let escaped = characters.popFirst() {
                    value.append(escaped == "n" ? "\n" : escaped)
                } else {
                    value.append(character)
                }
            }
            labels.append((name, value))
            if characters.first == "," { characters = characters.dropFirst() }
        }
        return labels
    }
}
