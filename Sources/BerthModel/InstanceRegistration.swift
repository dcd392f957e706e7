/// What an agent registers with the control plane (`RegisterContainerInstance`).
public struct InstanceRegistration: Sendable, Hashable, Codable {
    /// The cluster's name or ARN.
    public var cluster: String
    /// The instance's ARN when it registered before: registering again keeps its identity.
    public var containerInstanceArn: String?
    /// CPU, MEMORY, PORTS, PORTS_UDP.
    public var totalResources: [Resource]
    /// Capabilities, the OS type and the operator's custom attributes.
    public var attributes: [Attribute]
    public var versionInfo: VersionInfo
    /// A JSON document like EC2's instance identity document: instanceId, instanceType, region,
    /// availabilityZone, privateIp.
    public var instanceIdentityDocument: String?

    public init(
        cluster: String,
        containerInstanceArn: String? = nil,
        totalResources: [Resource],
        attributes: [Attribute],
        versionInfo: VersionInfo,
        instanceIdentityDocument: String? = nil
    ) {
        self.cluster = cluster
        self.containerInstanceArn = containerInstanceArn
        self.totalResources = totalResources
        self.attributes = attributes
        self.versionInfo = versionInfo
        self.instanceIdentityDocument = instanceIdentityDocument
    }
}

/// The agent's and Docker's versions (`VersionInfo`).
public struct VersionInfo: Sendable, Hashable, Codable {
    public var agentVersion: String?
    public var agentHash: String?
    public var dockerVersion: String?

    public init(agentVersion: String? = nil, agentHash: String? = nil, dockerVersion: String? = nil) {
        self.agentVersion = agentVersion
        self.agentHash = agentHash
        self.dockerVersion = dockerVersion
    }
}
