/// Reads an HTTP `Retry-After` header (RFC 9110): a number of seconds, or an HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`; the two obsolete date forms are read too).
enum RetryAfter {
    /// Milliseconds to wait from `now`; nil when the value is neither form. A date in the past
    /// means no wait.
    static func millis(_ value: String, now: EpochMillis) -> Int64? {
        let text = value.trimmed
        if let seconds = Int64(text) { return seconds >= 0 ? min(seconds, 86_400 * 365) * 1000 : nil }
        guard let date = httpDate(text) else { return nil }
        return max(0, date - now)
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Epoch milliseconds of an HTTP-date in GMT.
    static func httpDate(_ text: String) -> EpochMillis? {
        // Drop the weekday ("Sun," / "Sunday,") and read day, month, year, time in any of the forms.
        var words = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard words.count >= 3 else { return nil }
        // Drop a leading weekday: the first word is then neither the day, nor a dashed date, nor a month.
        if Int(words[0]) == nil, !words[0].contains("-"), months.firstIndex(of: words[0].lowercased()) == nil {
            words.removeFirst()
        }
        var day: Int?, month: Int?, year: Int?, time: [Int]?
        if words.count >= 3, words.last?.uppercased() == "GMT" {
            if words[0].contains("-") {
                // RFC 850: 06-Nov-94 08:49:37 GMT
                let parts = words[0].split(separator: "-").map(String.init)
                guard parts.count == 3 else { return nil }
                day = Int(parts[0])
                month = months.firstIndex(of: parts[1].lowercased()).map { $0 + 1 }
                year = Int(parts[2]).map { $0 < 100 ? ($0 < 70 ? 2000 + $0 : 1900 + $0) : $0 }
                time = clock(words[1])
            } else if words.count >= 4 {
                // IMF-fixdate: 06 Nov 1994 08:49:37 GMT
                day = Int(words[0])
                month = months.firstIndex(of: words[1].lowercased()).map { $0 + 1 }
                year = Int(words[2])
                time = clock(words[3])
            }
        } else if words.count == 4 {
            // asctime: Nov  6 08:49:37 1994
            month = months.firstIndex(of: words[0].lowercased()).map { $0 + 1 }
            day = Int(words[1])
            time = clock(words[2])
            year = Int(words[3])
        }
        guard let day, let month, let year, let time, (1...31).contains(day), (1970...9999).contains(year) else { return nil }
        let days = daysFromEpoch(year: year, month: month, day: day)
        return (Int64(days) * 86_400 + Int64(time[0] * 3600 + time[1] * 60 + time[2])) * 1000
    }

    private static func clock(_ text: String) -> [Int]? {
        let parts = text.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 3, (0...23).contains(parts[0]), (0...59).contains(parts[1]), (0...60).contains(parts[2]) else { return nil }
        return parts
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
