import Testing
@testable import VisionQueue

@Suite("ISO8601")
struct ISO8601Tests {
    @Test(arguments: [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (951_782_400_007, "2000-02-29T00:00:00.007Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ] as [(EpochMillis, String)])
    func formatsUTCWithMilliseconds(_ millis: EpochMillis, _ expected: String) {
        #expect(ISO8601.format(millis) == expected)
    }
}
