public import BerthAgentChannel
public import BerthConfig
public import BerthModel
public import DockerEngine
import Foundation
public import Logging

/// Registers this host with the control plane as the ECS agent does: its CPU, memory and ports, its
/// capabilities as attributes, and the ARN of an earlier registration so that it keeps its identity.
public struct InstanceRegistrar: Sendable {
    public var configuration: BerthConfiguration
    public var host: HostFacts
    public var agentVersion: String
    /// The commit the agent was built from, sent as `agentHash`.
    public var agentHash: String?
    public var backoff: Backoff

    public init(
        configuration: BerthConfiguration,
        host: HostFacts,
        agentVersion: String,
        agentHash: String? = nil,
        backoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
    ) {
        self.configuration = configuration
        self.host = host
        self.agentVersion = agentVersion
        self.agentHash = agentHash
        self.backoff = backoff
    }

    /// CPU units: cores × 1024.
    public var cpu: Int { host.cpuCores * 1024 }

    /// Registered memory: MemTotal in MiB less ECS_RESERVED_MEMORY.
    public var memory: Int { max(0, host.memoryMiB - Int(configuration.reservedMemoryMiB)) }

    public var resources: [Resource] {
        [
            .integer("CPU", cpu),
            .integer("MEMORY", memory),
            .stringSet("PORTS", configuration.reservedPorts.map(String.init)),
            .stringSet("PORTS_UDP", configuration.reservedPortsUDP.map(String.init)),
        ]
    }

    /// The attributes the ECS agent sends, for what this host and its dockerd can do, then the operator's.
    public func attributes(dockerAPIVersion: DockerAPIVersion?) -> [Attribute] {
        var names: [(String, String?)] = [
            ("ecs.os-type", "linux"),
            ("ecs.os-family", "LINUX"),
            ("ecs.cpu-architecture", host.architecture),
            ("ecs.capability.container-health-check", nil),
            ("ecs.capability.container-ordering", nil),
            ("ecs.capability.docker-plugin.local", nil),
            ("com.amazonaws.ecs.capability.docker-remote-api.1.17", nil),
        ]
        if let version = dockerAPIVersion, version.major == 1, version.minor > 17 {
            for minor in 18...version.minor {
                names.append(("com.amazonaws.ecs.capability.docker-remote-api.1.\(minor)", nil))
            }
        }
        for driver in configuration.availableLoggingDrivers {
            names.append(("com.amazonaws.ecs.capability.logging-driver.\(driver.rawValue)", nil))
        }
        if !configuration.privilegedDisabled {
            names.append(("com.amazonaws.ecs.capability.privileged-container", nil))
        }
        if configuration.selinuxCapable { names.append(("com.amazonaws.ecs.capability.selinux", nil)) }
        if configuration.apparmorCapable { names.append(("com.amazonaws.ecs.capability.apparmor", nil)) }
        var attributes = names.compactMap { try? Attribute(name: $0.0, value: $0.1) }
        let custom = Set(configuration.instanceAttributes.map(\.name))
        attributes.removeAll { custom.contains($0.name) }
        return attributes + configuration.instanceAttributes
    }

    public func registration(previousArn: String?, docker: SystemVersion?) -> InstanceRegistration {
        InstanceRegistration(
            cluster: configuration.cluster.value,
            containerInstanceArn: previousArn,
            totalResources: resources,
            attributes: attributes(dockerAPIVersion: docker.flatMap { DockerAPIVersion($0.apiVersion) }),
            versionInfo: VersionInfo(agentVersion: agentVersion, agentHash: agentHash, dockerVersion: docker?.version),
            instanceIdentityDocument: identityDocument
        )
    }

    /// The host's identity: BERTH_INSTANCE_ID, else the machine id.
    public var instanceID: String? { configuration.instanceID ?? host.machineID }

    /// Who this host is, in the shape of EC2's instance identity document, which the control plane reads as
    /// ECS reads EC2's: `instanceId` becomes the instance's `ec2InstanceId`, `availabilityZone` its
    /// `ecs.availability-zone` attribute; `privateIp` is the host's address.
    public var identityDocument: String? {
        let document = IdentityDocument(
            instanceId: instanceID,
            region: configuration.region.name,
            availabilityZone: configuration.availabilityZone,
            privateIp: host.primaryIPv4
        )
        guard document.instanceId != nil || document.availabilityZone != nil || document.privateIp != nil,
            let data = try? IdentityDocument.encoder.encode(document)
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private struct IdentityDocument: Encodable {
        var instanceId: String?
        var region: String
        var availabilityZone: String?
        var privateIp: String?

        static let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return encoder
        }()
    }

    /// Makes the saved state this host's. State saved by another host (a data directory baked into a machine
    /// image, or copied) names containers and an instance that are not here: it is forgotten, and the host
    /// registers as a new instance, as the ECS agent does when the EC2 instance id changes.
    public func claimState(_ store: any AgentStateStore, logger: Logger) async throws(AgentError) {
        guard let instanceID else { return }
        let saved = try await store.metadata(.instanceID)
        if let saved, saved != instanceID {
            logger.warning(
                "The saved state belongs to another host; starting fresh as a new container instance",
                metadata: [
                    "saved.instance": "\(saved)", "instance": "\(instanceID)",
                    "directory": "\(configuration.dataDirectory)",
                ]
            )
            try await store.removeAll()
        }
        if saved != instanceID { try await store.setMetadata(.instanceID, instanceID) }
    }

    /// Registers, retrying transient failures with backoff until it succeeds or the task is cancelled; saves
    /// the ARN before returning. A registration refused for good is a terminal error.
    public func register(
        through connection: any ControlPlaneConnection,
        store: any AgentStateStore,
        docker: any DockerClient,
        logger: Logger
    ) async throws(AgentError) -> RegisteredInstance {
        let cluster = configuration.cluster.value
        if let savedCluster = try await store.metadata(.cluster), savedCluster != cluster {
            throw AgentError(
                .dataMismatch,
                "the state in \(configuration.dataDirectory) belongs to cluster '\(savedCluster)', not '\(cluster)'; "
                    + "remove it (or set ECS_CLUSTER back) to start"
            )
        }
        let previousArn = try await store.metadata(.containerInstanceArn)
        let version = try? await docker.version()
        let registration = registration(previousArn: previousArn, docker: version)
        var backoff = self.backoff
        while true {
            do {
                let registered = try await connection.register(registration)
                try await store.setMetadata(.cluster, cluster)
                try await store.setMetadata(.containerInstanceArn, registered.containerInstanceArn)
                try await store.setMetadata(.clusterArn, registered.clusterArn)
                logger.info(
                    "Registered container instance",
                    metadata: [
                        "instance": "\(registered.containerInstanceArn)", "cluster": "\(registered.clusterArn)",
                        "resources": "\(registration.totalResources.map(\.description).joined(separator: " "))",
                    ]
                )
                return registered
            } catch let error as ControlPlaneError where error.isTransient {
                let delay = backoff.next()
                logger.warning(
                    "Registration failed; retrying",
                    metadata: ["error": "\(error)", "retry.in": "\(delay)"]
                )
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw AgentError(.registrationRefused, "registration cancelled")
                }
            } catch let error as ControlPlaneError {
                if error.code == .instanceInactive, previousArn != nil {
                    throw AgentError(
                        .registrationRefused,
                        "container instance \(previousArn ?? "") was deregistered: \(error.message); remove the "
                            + "state in \(configuration.dataDirectory) to register as a new instance"
                    )
                }
                throw AgentError(.registrationRefused, "registration refused: \(error)")
            } catch let error as AgentError {
                throw error
            } catch {
                throw AgentError(.registrationRefused, "registration failed: \(error)")
            }
        }
    }
}
