import Testing
import VisionQueue

@Suite("VQ_TRIGGER_ALLOW: addresses and networks nginx may allow")
struct NetworkAddressTests {
    @Test("Addresses and networks of both families are taken", arguments: [
        "10.0.0.5", "10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "::1", "fd00::/8", "2001:db8::1/128",
    ])
    func taken(_ text: String) {
        #expect(NetworkAddress.isAddressOrNetwork(text))
    }

    @Test("Anything else is refused, above all what would add to nginx's configuration", arguments: [
        "", "all", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/+8", "10.0.0/8", "10.0.0.1; allow all",
        "10.0.0.1/8/8", "example.com", "unix:",
    ])
    func refused(_ text: String) {
        #expect(!NetworkAddress.isAddressOrNetwork(text))
    }

    @Test("The setting is a list; one bad entry stops the start")
    func setting() throws {
        let configuration = try VisionQueueConfiguration(environment: ["VQ_TRIGGER_ALLOW": "10.0.0.0/8, fd00::/8 192.168.0.7"])
        #expect(configuration.triggerSources == ["10.0.0.0/8", "fd00::/8", "192.168.0.7"])
        #expect(try VisionQueueConfiguration(environment: [:]).triggerSources.isEmpty)
        #expect(throws: ConfigurationError.self) {
            try VisionQueueConfiguration(environment: ["VQ_TRIGGER_ALLOW": "10.0.0.0/8,all"])
        }
    }
}
