import Testing
@testable import VisionQueue

@Suite("HTTPRequest")
struct HTTPRequestTests {
    private func items(_ query: String) -> [String] {
        HTTPRequest(method: "GET", path: "/", query: query).queryItems.map { "\($0.name)=\($0.value)" }
    }

    @Test func decodesPercentEscapesAndPlus() {
        #expect(items("jobId=abc&name=J%C3%BCrgen+M%C3%BCller&empty=&flag") == ["jobId=abc", "name=Jürgen Müller", "empty=", "flag="])
        #expect(items("plus=%2B&eq=a%3Db&amp=%26&space=%20") == ["plus=+", "eq=a=b", "amp=&", "space= "])
        #expect(items("a%3Db=c") == ["a=b=c"])
        #expect(items("x=1=2") == ["x=1=2"])
        #expect(items("lower=%c3%a9") == ["lower=é"])
    }

    @Test func emptyPairsAreSkipped() {
        #expect(items("") == [])
        #expect(items("a=1&&b=2&") == ["a=1", "b=2"])
    }

    @Test(arguments: ["v=%zz", "v=%E", "v=%", "v=%FF", "v=%C3"])
    func undecodableValuesBecomeTheReplacementCharacter(_ query: String) {
        #expect(items(query) == ["v=\u{FFFD}"])
    }

    @Test func wholeNumbersFromOneOfAnySizeAreRead() {
        #expect(HTTPRequest.wholeNumberFromOne("1") == 1)
        #expect(HTTPRequest.wholeNumberFromOne("+7") == 7)
        #expect(HTTPRequest.wholeNumberFromOne("9223372036854775807") == Int64.max)
        // As valid as any other number to the API's description: too large to exist, not malformed.
        #expect(HTTPRequest.wholeNumberFromOne("102697245723120435200") == Int64.max)
        for text in ["0", "-3", "", "+", "1.5", "1e3", " 1", "x", "00", "-102697245723120435200"] {
            #expect(HTTPRequest.wholeNumberFromOne(text) == nil, "\(text)")
        }
    }

    @Test func queryValueReadsOneParameter() throws {
        let request = HTTPRequest(method: "GET", path: "/", query: "jobId=a%2Db&other=1")
        #expect(try request.queryValue("jobId") == "a-b")
        #expect(try request.queryValue("missing") == nil)
        #expect(try request.queryValue("jobid") == nil, "names are case-sensitive")
    }

    @Test(arguments: ["jobId=a&jobId=b", "jobId=a&jobId=a", "jobId=a&job%49d=b", "jobId&jobId=b"])
    func aRepeatedParameterIs400(_ query: String) throws {
        let request = HTTPRequest(method: "GET", path: "/", query: query)
        let error = try #require(apiError { _ = try request.queryValue("jobId") })
        #expect(error.status == 400)
        #expect(error.message.contains("jobId"))
        #expect(try request.queryValue("other") == nil, "other parameters are still readable")
    }

    @Test func headersAreLookedUpByLowercaseName() {
        let request = HTTPRequest(method: "GET", path: "/", headers: [.contentType: "application/json"])
        #expect(request.header(.contentType) == "application/json")
        #expect(request.header(.authorization) == nil)
    }
}
