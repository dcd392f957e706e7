import BerthAgent
import BerthConfig
import BerthModel
import DockerEngine
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
}
