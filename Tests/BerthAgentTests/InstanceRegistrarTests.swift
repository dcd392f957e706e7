import BerthAgent
import BerthConfig
import BerthModel
import BerthStore
import DockerEngine
import Foundation
import Logging
import Testing

@Suite("Instance registration")
struct InstanceRegistrarTests {
    static func configuration() throws -> BerthConfiguration {
        BerthConfiguration(
            region: try AWSRegion("us-east-1"),
            dynamicHostPortRange: try PortRange(start: 32768, end: 60999)
        )
    }

    @Test("CPU is cores × 1024, MEMORY is MemTotal less the reserve, ports are the reserved lists")
    func resources() throws {
        var configuration = try Self.configuration()
        configuration.reservedMemoryMiB = 256
        configuration.reservedPortsUDP = [161]
        let registrar = InstanceRegistrar(
            configuration: configuration,
            host: HostFacts(cpuCores: 2, memoryMiB: 3936, architecture: "x86_64"),
            agentVersion: "1.0"
        )
        let resources = registrar.registration(previousArn: nil, docker: nil).totalResources
        #expect(
            resources.map(\.description) == [
                "CPU=2048", "MEMORY=3680", "PORTS=[22,2375,2376,51678,51679]", "PORTS_UDP=[161]",
            ]
        )
    }

    @Test("attributes: OS, capabilities up to dockerd's API version, drivers, privileged unless disabled, custom last")
    func attributes() throws {
        var configuration = try Self.configuration()
        configuration.availableLoggingDrivers = [.jsonFile, .journald]
        configuration.instanceAttributes = [try Attribute(name: "stack", value: "prod")]
        let host = HostFacts(cpuCores: 1, memoryMiB: 1024, architecture: "x86_64")
        let names = InstanceRegistrar(configuration: configuration, host: host, agentVersion: "1")
            .attributes(dockerAPIVersion: DockerAPIVersion(major: 1, minor: 41))
            .map(\.description)
        #expect(names.contains("ecs.os-type=linux"))
        #expect(names.contains("com.amazonaws.ecs.capability.docker-remote-api.1.17"))
        #expect(names.contains("com.amazonaws.ecs.capability.docker-remote-api.1.41"))
        #expect(!names.contains("com.amazonaws.ecs.capability.docker-remote-api.1.42"))
        #expect(names.contains("com.amazonaws.ecs.capability.logging-driver.journald"))
        #expect(!names.contains("com.amazonaws.ecs.capability.logging-driver.syslog"))
        #expect(names.contains("com.amazonaws.ecs.capability.privileged-container"))
        #expect(names.contains("ecs.capability.container-health-check"))
        #expect(names.contains("ecs.capability.container-ordering"))
        #expect(names.last == "stack=prod")

        configuration.privilegedDisabled = true
        let disabled = InstanceRegistrar(configuration: configuration, host: host, agentVersion: "1")
            .attributes(dockerAPIVersion: nil)
            .map(\.name)
        #expect(!disabled.contains("com.amazonaws.ecs.capability.privileged-container"))
    }

    @Test("MemTotal is read from /proc/meminfo's line")
    func meminfo() {
        #expect(HostFacts.memTotalKiB("MemTotal:       16318412 kB\nMemFree: 1 kB\n") == 16_318_412)
        #expect(HostFacts.memTotalKiB("MemFree: 1 kB\n") == nil)
    }

    @Test("the identity document names the host: BERTH_INSTANCE_ID over the machine id, the zone, the address")
    func identityDocument() throws {
        var configuration = try Self.configuration()
        let host = HostFacts(
            cpuCores: 1,
            memoryMiB: 1024,
            architecture: "x86_64",
            machineID: "0123456789abcdef0123456789abcdef",
            primaryIPv4: "10.0.0.7"
        )
        func document(_ configuration: BerthConfiguration) throws -> [String: String] {
            let text = try #require(
                InstanceRegistrar(configuration: configuration, host: host, agentVersion: "1")
                    .registration(previousArn: nil, docker: nil).instanceIdentityDocument
            )
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        }
        #expect(
            try document(configuration) == [
                "instanceId": "0123456789abcdef0123456789abcdef", "region": "us-east-1", "privateIp": "10.0.0.7",
            ]
        )
        configuration.instanceID = "host-17"
        configuration.availabilityZone = "dc1-room2"
        #expect(
            try document(configuration) == [
                "instanceId": "host-17", "region": "us-east-1", "privateIp": "10.0.0.7",
                "availabilityZone": "dc1-room2",
            ]
        )
    }

    @Test("state saved by another host is forgotten; this host's own, or state from before ids were kept, is not")
    func stateOfAnotherHost() async throws {
        let store = try SQLiteAgentStore()
        var configuration = try Self.configuration()
        configuration.instanceID = "host-a"
        let hostA = InstanceRegistrar(
            configuration: configuration,
            host: HostFacts(cpuCores: 1, memoryMiB: 1024, architecture: "x86_64"),
            agentVersion: "1"
        )
        let logger = Logger(label: "test")
        // Saved before instance ids were kept: claimed, not forgotten.
        try await store.setMetadata(.containerInstanceArn, "arn:aws:ecs:us-east-1:123456789012:container-instance/a")
        try await hostA.claimState(store, logger: logger)
        #expect(try await store.metadata(.instanceID) == "host-a")
        #expect(try await store.metadata(.containerInstanceArn) != nil)
        // Started again on the same host: kept.
        try await hostA.claimState(store, logger: logger)
        #expect(try await store.metadata(.containerInstanceArn) != nil)
        // The same data directory on another host: forgotten, and now that host's.
        configuration.instanceID = "host-b"
        let hostB = InstanceRegistrar(configuration: configuration, host: hostA.host, agentVersion: "1")
        try await hostB.claimState(store, logger: logger)
        #expect(try await store.metadata(.containerInstanceArn) == nil)
        #expect(try await store.metadata(.instanceID) == "host-b")
    }

    @Test("the default route's interface is read from /proc/net/route; a machine id file that is empty is none")
    func hostAddressAndMachineID() throws {
        let table = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
            wlan0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
            eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
            eth1\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0
            """
        #expect(HostFacts.defaultRouteInterface(table) == "eth0")
        #expect(HostFacts.defaultRouteInterface("Iface\tDestination\n") == nil)
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(HostFacts.machineID(atPath: path) == nil)
        try "0123456789abcdef0123456789abcdef\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(HostFacts.machineID(atPath: path) == "0123456789abcdef0123456789abcdef")
        #expect(HostFacts.machineID(atPath: path + ".missing") == nil)
    }
}
