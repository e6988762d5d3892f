import Testing
@testable import VisionQueue

@Suite("RetryAfter")
struct RetryAfterTests {
    /// `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's example date.
    static let exampleDate: EpochMillis = 784_111_777_000

    // MARK: - Seconds

    @Test(arguments: [("20", 20_000), ("0", 0), ("1", 1_000), (" 120 ", 120_000), ("3600", 3_600_000)] as [(String, Int64)])
    func secondsAreMillisecondsToWait(_ header: String, _ millis: Int64) {
        #expect(RetryAfter.millis(header, now: t0) == millis)
    }

    @Test func anAbsurdlyLongWaitIsCappedAtAYear() {
        let year: Int64 = 86_400 * 365 * 1000
        #expect(RetryAfter.millis("9999999999", now: t0) == year)
    }

    @Test(arguments: ["-1", "-20", "abc", "", "  ", "1.5", "20s", "twenty", "99999999999999999999", "Sun, 06 Nov 1994"])
    func negativeOrGarbageIsNil(_ header: String) {
        #expect(RetryAfter.millis(header, now: t0) == nil)
    }

    // MARK: - HTTP dates

    @Test func imfFixdateIsExactEpochMillis() {
        #expect(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == Self.exampleDate)
        #expect(RetryAfter.httpDate("Thu, 29 Feb 2024 12:00:00 GMT") == 1_709_208_000_000)
        #expect(RetryAfter.httpDate("Sat, 01 Mar 2031 00:00:00 GMT") == 1_930_089_600_000)
        #expect(RetryAfter.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
    }

    @Test func monthNamesAreCaseInsensitive() {
        #expect(RetryAfter.httpDate("Sun, 06 NOV 1994 08:49:37 GMT") == Self.exampleDate)
        #expect(RetryAfter.httpDate("sun, 06 nov 1994 08:49:37 gmt") == Self.exampleDate)
    }

    @Test func asctimeIsRead() {
        #expect(RetryAfter.httpDate("Sun Nov  6 08:49:37 1994") == Self.exampleDate)
        #expect(RetryAfter.httpDate("Thu Feb 29 12:00:00 2024") == 1_709_208_000_000)
    }

    @Test func rfc850IsRead() {
        #expect(RetryAfter.httpDate("Sunday, 06-Nov-94 08:49:37 GMT") == Self.exampleDate)
        #expect(RetryAfter.millis("Sunday, 06-Nov-94 08:49:37 GMT", now: Self.exampleDate - 5_000) == 5_000)
        // A two-digit year below 70 is in this century.
        #expect(RetryAfter.httpDate("Saturday, 01-Mar-31 00:00:00 GMT") == 1_930_089_600_000)
    }

    @Test(arguments: [
        "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 06 Nov 1969 08:49:37 GMT",
        "Sun Nov  6 08:49:37", "tomorrow at noon",
    ])
    func invalidDatesAreNil(_ header: String) {
        #expect(RetryAfter.httpDate(header) == nil)
        #expect(RetryAfter.millis(header, now: t0) == nil)
    }

    @Test func aDateInThePastMeansNoWait() {
        #expect(RetryAfter.millis("Sun, 06 Nov 1994 08:49:37 GMT", now: t0) == 0)
        #expect(RetryAfter.millis("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.exampleDate) == 0)
    }

    @Test func aDateAfterNowIsTheTimeUntilIt() {
        #expect(RetryAfter.millis("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.exampleDate - 30_000) == 30_000)
        // `now` has milliseconds; the date has whole seconds.
        #expect(RetryAfter.millis("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.exampleDate - 1_250) == 1_250)
        #expect(RetryAfter.millis("Sun Nov  6 08:49:37 1994", now: Self.exampleDate - 30_000) == 30_000)
    }
}
