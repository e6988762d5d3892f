import Foundation
import Testing
@testable import VisionQueue

@Suite("JobID")
struct JobIDTests {
    @Test func acceptsCanonicalUUIDsAndLowercasesThem() throws {
        let id = try #require(JobID("3F2504E0-4F89-11D3-9A0C-0305E82C3301"))
        #expect(id.rawValue == "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        #expect(JobID("3f2504e0-4f89-11d3-9a0c-0305e82c3301") == id)
    }

    @Test(arguments: [
        "", "abc", "3f2504e0-4f89-11d3-9a0c-0305e82c330", "3f2504e0-4f89-11d3-9a0c-0305e82c33011",
        "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}", "3f2504e04f8911d39a0c0305e82c3301", "3f2504e0_4f89_11d3_9a0c_0305e82c3301",
        "3f2504e0-4f89-11d3-9a0c-0305e82c330g", "3f2504e-04f89-11d3-9a0c-0305e82c3301", " 3f2504e0-4f89-11d3-9a0c-0305e82c330",
        "３f2504e0-4f89-11d3-9a0c-0305e82c3301",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(JobID(text) == nil)
    }

    @Test func newIDsAreValidAndDistinct() {
        let ids = (0..<100).map { _ in JobID.timeOrdered() }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { JobID($0.rawValue) == $0 && $0.rawValue == $0.rawValue.lowercased() })
    }

    @Test func idsAreVersion7AndSortByCreationTime() throws {
        let early = JobID.timeOrdered(now: 1_764_500_000_000)
        let later = JobID.timeOrdered(now: 1_764_500_000_001)
        #expect(early.rawValue < later.rawValue, "text order is time order, so inserts append to indexes")
        #expect(early.rawValue.hasPrefix("019ad465-4d00-"))  // 1_764_500_000_000 ms = 0x019AD4654D00
        let version = early.rawValue[early.rawValue.index(early.rawValue.startIndex, offsetBy: 14)]
        #expect(version == "7")
        let variant = early.rawValue[early.rawValue.index(early.rawValue.startIndex, offsetBy: 19)]
        #expect("89ab".contains(variant))
        #expect(UUID(uuidString: early.rawValue) != nil)
    }
}
