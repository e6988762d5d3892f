import Testing
@testable import VisionQueue

@Suite("ServerSentEventParser")
struct ServerSentEventParserTests {
    /// Two chunks as llama.cpp and OpenAI send them, with a comment, an `event:` and an `id:` line.
    static let stream = """
        : keep-alive\n\
        data: {"choices":[{"delta":{"content":"Héllo"}}]}\n\
        \n\
        event: message\n\
        id: 7\n\
        data:{"choices":[{"delta":{"content":" wörld 🌍"}}]}\n\
        \n\
        data: [DONE]\n\
        \n
        """
    static let expected = [
        #"{"choices":[{"delta":{"content":"Héllo"}}]}"#,
        #"{"choices":[{"delta":{"content":" wörld 🌍"}}]}"#,
        "[DONE]",
    ]

    private func feedAll(_ pieces: [[UInt8]], into parser: inout ServerSentEventParser) throws -> [String] {
        var events: [String] = []
        for piece in pieces { events += try parser.feed(piece) }
        return events
    }

    @Test func feedingAtOnceGivesEveryEventInOrder() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array(Self.stream.utf8)) == Self.expected)
        #expect(!parser.hasUnfinishedEvent)
    }

    @Test func feedingByteByByteGivesTheSameEvents() throws {
        var parser = ServerSentEventParser()
        // Splits multi-byte UTF-8 characters (é, ö, 🌍) between feeds too.
        let events = try feedAll(Array(Self.stream.utf8).map { [$0] }, into: &parser)
        #expect(events == Self.expected)
        #expect(!parser.hasUnfinishedEvent)
    }

    @Test(arguments: [2, 3, 5, 7, 13, 64])
    func feedingInArbitraryPiecesGivesTheSameEvents(size: Int) throws {
        let bytes = Array(Self.stream.utf8)
        let pieces = stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
        var parser = ServerSentEventParser()
        #expect(try feedAll(pieces, into: &parser) == Self.expected)
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func everyLineEndingEndsLinesAndEvents(_ end: String) throws {
        let text = "data: one\(end)\(end)data: two\(end)data: more\(end)\(end)"
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array(text.utf8)) == ["one", "two\nmore"])
        var byteByByte = ServerSentEventParser()
        #expect(try feedAll(Array(text.utf8).map { [$0] }, into: &byteByByte) == ["one", "two\nmore"])
    }

    @Test func crAtTheEndOfOneFeedAndLfAtTheStartOfTheNextAreOneLineEnd() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array("data: a\r".utf8)) == [])
        // The LF completes the CR LF of the data line: it is not the blank line that ends the event.
        #expect(try parser.feed(Array("\ndata: b\r".utf8)) == [])
        #expect(parser.hasUnfinishedEvent)
        #expect(try parser.feed(Array("\n\r".utf8)) == ["a\nb"])
        #expect(try parser.feed(Array("\ndata: c\r\n\r\n".utf8)) == ["c"])
    }

    @Test func multiLineDataIsJoinedWithLineFeeds() throws {
        var parser = ServerSentEventParser()
        let events = try parser.feed(Array("data: first\ndata: second\ndata:\ndata: fourth\n\n".utf8))
        #expect(events == ["first\nsecond\n\nfourth"])
    }

    @Test func onlyOneSpaceAfterTheColonIsDropped() throws {
        var parser = ServerSentEventParser()
        let events = try parser.feed(Array("data:no space\n\ndata: one space\n\ndata:  two spaces\n\n".utf8))
        #expect(events == ["no space", "one space", " two spaces"])
    }

    @Test func commentsEventIdAndRetryLinesAreIgnored() throws {
        var parser = ServerSentEventParser()
        let text = ": OPENROUTER PROCESSING\n\nevent: ping\nid: 42\nretry: 1000\n\n: comment\ndata: kept\nevent: x\n\n"
        // A block without data lines is no event at all.
        #expect(try parser.feed(Array(text.utf8)) == ["kept"])
    }

    @Test func aFieldMerelyStartingWithDataIsNotData() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array("dataset: x\ndata2: y\n\ndata: z\n\n".utf8)) == ["z"])
    }

    @Test func anOverLongLineIsMalformed() throws {
        var parser = ServerSentEventParser(maxLineBytes: 16)
        // A line of exactly the limit is fine.
        #expect(try parser.feed(Array("data: 0123456789\n\n".utf8)) == ["0123456789"])
        #expect(throws: ServerSentEventParser.Malformed.self) {
            try parser.feed(Array("data: 0123456789A".utf8))
        }
    }

    @Test func anOverLongLineIsCaughtAcrossFeeds() throws {
        var parser = ServerSentEventParser(maxLineBytes: 8)
        #expect(try parser.feed(Array("data".utf8)) == [])
        #expect(try parser.feed(Array(": ab".utf8)) == [])
        #expect(throws: ServerSentEventParser.Malformed.self) { try parser.feed(Array("c".utf8)) }
    }

    @Test func hasUnfinishedEventTellsACutStreamFromAFinishedOne() throws {
        var parser = ServerSentEventParser()
        #expect(!parser.hasUnfinishedEvent)
        #expect(try parser.feed(Array("data: {\"choi".utf8)) == [])
        #expect(parser.hasUnfinishedEvent)  // a partial line
        #expect(try parser.feed(Array("ces\":[]}\n".utf8)) == [])
        #expect(parser.hasUnfinishedEvent)  // a data line without the blank line that ends the event
        #expect(try parser.feed(Array("\n".utf8)) == [#"{"choices":[]}"#])
        #expect(!parser.hasUnfinishedEvent)
        // A comment alone leaves nothing unfinished once its line ended.
        #expect(try parser.feed(Array(": ping\n".utf8)) == [])
        #expect(!parser.hasUnfinishedEvent)
    }
}
