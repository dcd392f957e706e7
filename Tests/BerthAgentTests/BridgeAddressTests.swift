import BerthAgent
import DockerEngine
import Foundation
import Testing

@Suite("The host's address on Docker's bridge, from each shape of `network inspect bridge`")
struct BridgeAddressTests {
    /// `GET /networks/bridge` as dockerd answers it, with `ipam` as the IPAM member and `options` as Options.
    static func network(
        ipam: String,
        options: String = #"{"com.docker.network.bridge.name": "docker0"}"#
    ) throws
        -> NetworkInspect
    {
        let json = """
            {"Name": "bridge", "Id": "befb8249e49c", "Driver": "bridge", "Scope": "local",
             "IPAM": \(ipam), "Options": \(options), "Containers": {}}
            """
        return try JSONDecoder().decode(NetworkInspect.self, from: Data(json.utf8))
    }

    static let docker0 = ["docker0": ["172.17.0.1"]]

    static func resolve(
        _ network: NetworkInspect,
        _ interfaces: [String: [String]] = docker0
    )
        -> BridgeAddress.Resolution
    {
        BridgeAddress.resolve(network) { interfaces[$0] ?? [] }
    }

    @Test("the IPAM gateway, when dockerd gives it")
    func gateway() throws {
        let network = try Self.network(
            ipam: #"{"Driver": "default", "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}"#
        )
        #expect(Self.resolve(network).address == "172.18.0.1")
    }

    @Test("a new dockerd's bridge: a subnet and no gateway; the address of the interface it names")
    func noGatewayFreshDaemon() throws {
        let network = try Self.network(
            ipam: #"{"Driver": "default", "Options": null, "Config": [{"Subnet": "172.17.0.0/16"}]}"#
        )
        #expect(network.ipv4Gateway == nil)
        #expect(network.bridgeInterface == "docker0")
        #expect(Self.resolve(network).address == "172.17.0.1")
    }

    @Test("an empty or IPv6-only gateway is no IPv4 gateway")
    func emptyAndIPv6Gateways() throws {
        let empty = try Self.network(ipam: #"{"Config": [{"Subnet": "172.17.0.0/16", "Gateway": ""}]}"#)
        #expect(Self.resolve(empty).address == "172.17.0.1")
        let v6 = try Self.network(
            ipam: #"{"Config": [{"Subnet": "fd00::/64", "Gateway": "fd00::1"}, {"Subnet": "172.17.0.0/16"}]}"#
        )
        #expect(Self.resolve(v6).address == "172.17.0.1")
    }

    @Test("no Config at all (null) and no Options: unavailable, and the cause says both")
    func nothingKnown() throws {
        let network = try Self.network(ipam: #"{"Driver": "default", "Config": null}"#, options: "null")
        guard case .unavailable(let cause) = Self.resolve(network) else {
            Issue.record("an address came from nowhere")
            return
        }
        #expect(cause.contains("no IPv4 gateway") && cause.contains("names no bridge interface"))
    }

    @Test("the interface has no IPv4 address (or is gone): unavailable, naming the interface")
    func interfaceWithoutAddress() throws {
        let network = try Self.network(ipam: #"{"Config": [{"Subnet": "172.17.0.0/16"}]}"#)
        guard case .unavailable(let cause) = Self.resolve(network, [:]) else {
            Issue.record("an address came from nowhere")
            return
        }
        #expect(cause.contains("docker0") && cause.contains("no IPv4 address"))
    }

    @Test("getifaddrs: loopback has 127.0.0.1; an interface that does not exist has nothing")
    func interfaceAddresses() {
        #expect(InterfaceAddresses.ipv4("lo").contains("127.0.0.1"))
        #expect(InterfaceAddresses.ipv4("berth-no-such0").isEmpty)
    }
}
