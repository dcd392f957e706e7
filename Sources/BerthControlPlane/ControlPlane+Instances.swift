import BerthAgentChannel
public import BerthModel
import Foundation
import Logging

/// A container instance with the task counts DescribeContainerInstances shows.
public struct InstanceSummary: Sendable, Hashable {
    public var instance: ContainerInstance
    public var runningTasksCount: Int
    public var pendingTasksCount: Int
}

/// What RegisterContainerInstance carries, from an agent or any other caller.
public struct InstanceRegistrationRequest: Sendable, Hashable {
    public var cluster: String?
    public var containerInstanceArn: String?
    public var totalResources: [Resource]
    public var attributes: [Attribute]
    public var versionInfo: VersionInfo
    public var instanceIdentityDocument: String?
    public var tags: [Tag]
    /// The access key ID the registration was signed with, when the API checks signatures.
    public var registeredBy: String?

    public init(
        cluster: String?,
        containerInstanceArn: String? = nil,
        totalResources: [Resource],
        attributes: [Attribute] = [],
        versionInfo: VersionInfo = VersionInfo(),
        instanceIdentityDocument: String? = nil,
        tags: [Tag] = [],
        registeredBy: String? = nil
    ) {
        self.cluster = cluster
        self.containerInstanceArn = containerInstanceArn
        self.totalResources = totalResources
        self.attributes = attributes
        self.versionInfo = versionInfo
        self.instanceIdentityDocument = instanceIdentityDocument
        self.tags = tags
        self.registeredBy = registeredBy
    }
}

extension ControlPlane {
    func instanceSummary(_ instance: ContainerInstance) -> InstanceSummary {
        let counts = counts(liveTasks(onInstance: instance.containerInstanceArn))
        return InstanceSummary(instance: instance, runningTasksCount: counts.running, pendingTasksCount: counts.pending)
    }

    /// Registers an instance, or updates the one the request names. Registration with an unknown cluster
    /// is a ClientException, as ECS answers agents.
    public func registerInstance(_ request: InstanceRegistrationRequest) async throws(ClusterError) -> InstanceSummary {
        for resource in request.totalResources {
            guard ["CPU", "MEMORY", "PORTS", "PORTS_UDP"].contains(resource.name) || resource.name.hasPrefix("GPU")
            else {
                throw ClusterError.invalid("Unknown resource '\(resource.name)'.")
            }
            if let value = resource.integerValue, value < 0 {
                throw ClusterError.invalid("Resource \(resource.name) cannot be negative.")
            }
        }
        try Self.validate(tags: request.tags)
        let identity = IdentityDocument(request.instanceIdentityDocument)
        let now = settings.now()
        let registered = try await transact { () throws(ClusterError) -> ([Staged], ContainerInstance) in
            let name = try clusterName(request.cluster)
            guard let cluster = clusters[name]?.value, cluster.status == .active else {
                throw ClusterError(.client, "Cluster not found.")
            }
            var builtIn = [("ecs.os-type", "linux")]
            if let type = identity.instanceType { builtIn.append(("ecs.instance-type", type)) }
            if let zone = identity.availabilityZone { builtIn.append(("ecs.availability-zone", zone)) }
            if let image = identity.imageId { builtIn.append(("ecs.ami-id", image)) }
            var attributes = request.attributes
            for (key, value) in builtIn where !attributes.contains(where: { $0.name == key }) {
                if let attribute = try? Attribute(name: key, value: value) { attributes.append(attribute) }
            }
            if let arn = request.containerInstanceArn, var existing = instances[arn]?.value,
                existing.clusterArn == cluster.clusterArn, existing.status != .inactive
            {
                // An agent can never act for another instance: only the key that registered it may again.
                if let owner = existing.registeredBy, owner != request.registeredBy {
                    throw ClusterError(
                        .accessDenied,
                        "Container instance \(arn) was registered with other credentials."
                    )
                }
                // Registered before the API checked signatures: the first key to register it again owns it.
                existing.registeredBy = existing.registeredBy ?? request.registeredBy
                existing.registeredResources = request.totalResources
                existing.attributes = Self.merge(custom: existing.attributes, into: attributes)
                existing.versionInfo = request.versionInfo
                existing.version += 1
                return ([.instance(existing)], existing)
            }
            let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let instance = ContainerInstance(
                containerInstanceArn: arn("container-instance/\(cluster.clusterName)/\(id)"),
                clusterArn: cluster.clusterArn,
                ec2InstanceId: identity.instanceId,
                instanceType: identity.instanceType,
                availabilityZone: identity.availabilityZone,
                status: .active,
                agentConnected: sessions[arn("container-instance/\(cluster.clusterName)/\(id)")] != nil,
                registeredResources: request.totalResources,
                reserved: Reservation(),
                attributes: attributes,
                versionInfo: request.versionInfo,
                tags: request.tags,
                registeredAt: now,
                version: 1,
                registeredBy: request.registeredBy
            )
            return ([.instance(instance)], instance)
        }
        servicesNeedPass(inCluster: registered.clusterArn)
        logger.info(
            "container instance registered",
            metadata: [
                "instance": "\(registered.containerInstanceArn)",
                "resources": "\(registered.registeredResources.map(\.description).joined(separator: " "))",
            ]
        )
        return instanceSummary(registered)
    }

    /// Custom attributes put through the API survive an agent's re-registration.
    static func merge(custom existing: [Attribute], into registered: [Attribute]) -> [Attribute] {
        var merged = registered
        for attribute in existing
        where !attribute.isBuiltIn && !merged.contains(where: { $0.name == attribute.name }) {
            merged.append(attribute)
        }
        return merged
    }

    public func describeInstances(
        _ references: [String],
        cluster reference: String?
    ) throws(ClusterError) -> (instances: [InstanceSummary], failures: [PlacementFailure]) {
        let cluster = try cluster(reference)
        var found: [InstanceSummary] = []
        var failures: [PlacementFailure] = []
        for reference in references {
            if let instance = instance(reference, in: cluster) {
                found.append(instanceSummary(instance))
            } else {
                failures.append(PlacementFailure(arn: reference, reason: "MISSING"))
            }
        }
        return (found, failures)
    }

    /// Instance ARNs of a cluster, filtered by the query language and by status (all but INACTIVE when none).
    public func listInstances(
        cluster reference: String?,
        filter: String?,
        status: InstanceStatus?
    ) throws(ClusterError) -> [Listed<String>] {
        let cluster = try cluster(reference)
        let query = try filter.flatMap { text throws(ClusterError) -> ClusterQuery? in
            text.trimmingCharacters(in: .whitespaces).isEmpty ? nil : try ClusterQuery(parsing: text)
        }
        var listed: [Listed<String>] = []
        for instance in instances.values(.cluster(cluster.clusterArn)) {
            if let status, instance.status != status { continue }
            if status == nil, instance.status == .inactive { continue }
            if let query, !query.matches(querySubject(instance)) { continue }
            let position = ListPosition(
                time: instance.registeredAt.secondsSinceEpoch,
                name: instance.containerInstanceArn
            )
            listed.append(Listed(instance.containerInstanceArn, at: position))
        }
        return listed.sortedByPosition()
    }

    func querySubject(_ instance: ContainerInstance) -> ClusterQuery.Subject { candidate(for: instance).querySubject }

    /// Deregisters an instance. Without `force` it is refused while tasks run on it; with it, its tasks are
    /// given up (STOPPED) and its resources freed.
    public func deregisterInstance(
        _ reference: String,
        cluster clusterReference: String?,
        force: Bool
    ) async throws(ClusterError) -> InstanceSummary {
        let now = settings.now()
        let result = try await transact { () throws(ClusterError) -> ([Staged], ContainerInstance) in
            let cluster = try cluster(clusterReference)
            guard var instance = instance(reference, in: cluster), instance.status != .inactive else {
                throw ClusterError.invalid("Container instance '\(reference)' was not found in the cluster.")
            }
            let active = liveTasks(onInstance: instance.containerInstanceArn)
            if !active.isEmpty, !force {
                throw ClusterError.invalid(
                    "Container instance has \(active.count) active task(s); stop them first or deregister with force."
                )
            }
            var staged: [Staged] = []
            for var task in active {
                task.desiredStatus = .stopped
                task.lastStatus = "STOPPED"
                task.stoppedAt = now
                task.stoppedReason = task.stoppedReason ?? "Container instance deregistration forced by user"
                task.version += 1
                staged.append(.task(task))
            }
            instance.status = .inactive
            instance.inactiveSince = now
            instance.reserved = Reservation()
            instance.version += 1
            staged.append(.instance(instance))
            return (staged, instance)
        }
        logger.info("container instance deregistered", metadata: ["instance": "\(result.containerInstanceArn)"])
        // Its agent is told now, not on its next connection: the channel closes, and opening it again is
        // refused as InactiveInstanceException.
        sessions[result.containerInstanceArn]?.close(
            reason: "container instance \(result.containerInstanceArn) was deregistered"
        )
        servicesNeedPass(inCluster: result.clusterArn)
        return instanceSummary(result)
    }

    /// Sets instances ACTIVE or DRAINING; DRAINING instances take no new tasks.
    public func updateInstancesState(
        _ references: [String],
        cluster clusterReference: String?,
        status: InstanceStatus
    ) async throws(ClusterError) -> (instances: [InstanceSummary], failures: [PlacementFailure]) {
        guard status == .active || status == .draining else {
            throw ClusterError.invalid("Container instances can only be set to ACTIVE or DRAINING.")
        }
        let (updated, failures) = try await transact {
            () throws(ClusterError) -> ([Staged], ([ContainerInstance], [PlacementFailure])) in
            let cluster = try cluster(clusterReference)
            var staged: [Staged] = []
            var updated: [ContainerInstance] = []
            var failures: [PlacementFailure] = []
            for reference in references {
                guard var instance = instance(reference, in: cluster), instance.status != .inactive else {
                    failures.append(PlacementFailure(arn: reference, reason: "MISSING"))
                    continue
                }
                if instance.status != status {
                    instance.status = status
                    instance.version += 1
                    staged.append(.instance(instance))
                }
                updated.append(instance)
            }
            return (staged, (updated, failures))
        }
        for cluster in Set(updated.map(\.clusterArn)) { servicesNeedPass(inCluster: cluster) }
        return (updated.map(instanceSummary), failures)
    }

    // MARK: Attributes

    /// A custom attribute put on an instance (`targetId` is its ID or ARN).
    public struct TargetedAttribute: Sendable, Hashable {
        public var name: String
        public var value: String?
        public var targetType: String?
        public var targetId: String?

        public init(name: String, value: String?, targetType: String?, targetId: String?) {
            self.name = name
            self.value = value
            self.targetType = targetType
            self.targetId = targetId
        }
    }

    public func putAttributes(
        _ attributes: [TargetedAttribute],
        cluster clusterReference: String?
    ) async throws(ClusterError) -> [TargetedAttribute] {
        try await changeAttributes(attributes, cluster: clusterReference, remove: false)
    }

    public func deleteAttributes(
        _ attributes: [TargetedAttribute],
        cluster clusterReference: String?
    ) async throws(ClusterError) -> [TargetedAttribute] {
        try await changeAttributes(attributes, cluster: clusterReference, remove: true)
    }

    private func changeAttributes(
        _ attributes: [TargetedAttribute],
        cluster clusterReference: String?,
        remove: Bool
    ) async throws(ClusterError) -> [TargetedAttribute] {
        guard attributes.count <= 10 else {
            throw ClusterError(.attributeLimitExceeded, "You can specify up to 10 attributes per call.")
        }
        let (echoed, clusterArn) = try await transact {
            () throws(ClusterError) -> ([Staged], ([TargetedAttribute], String)) in
            let cluster = try cluster(clusterReference)
            var changed: [String: ContainerInstance] = [:]
            var echoed: [TargetedAttribute] = []
            for attribute in attributes {
                if let type = attribute.targetType, type != "container-instance" {
                    throw ClusterError.invalid("Attribute targetType must be container-instance.")
                }
                guard let target = attribute.targetId,
                    let found = instance(target, in: cluster), found.status != .inactive
                else {
                    throw ClusterError(.targetNotFound, "Could not find the target '\(attribute.targetId ?? "")'.")
                }
                var instance = changed[found.containerInstanceArn] ?? found
                instance.attributes.removeAll { $0.name == attribute.name }
                if !remove {
                    if let prefix = Attribute.builtInPrefixes.first(where: attribute.name.hasPrefix) {
                        throw ClusterError.invalid("Attribute names starting with '\(prefix)' are reserved.")
                    }
                    do {
                        instance.attributes.append(try Attribute(name: attribute.name, value: attribute.value))
                    } catch let error as ModelError {
                        throw ClusterError.invalid(error.message)
                    } catch {
                        throw ClusterError.invalid("\(error)")
                    }
                    let custom = instance.attributes.filter { !$0.isBuiltIn }
                    guard custom.count <= 10 else {
                        throw ClusterError(
                            .attributeLimitExceeded,
                            "A container instance can have at most 10 custom attributes."
                        )
                    }
                }
                changed[instance.containerInstanceArn] = instance
                var echo = attribute
                echo.targetType = "container-instance"
                echo.targetId = instance.containerInstanceArn
                echoed.append(echo)
            }
            return (changed.values.map { .instance($0) }, (echoed, cluster.clusterArn))
        }
        // Attributes decide where DAEMON services run.
        servicesNeedPass(inCluster: clusterArn)
        return echoed
    }

    /// Attributes of a cluster's instances, optionally of one name (and value).
    public func listAttributes(
        cluster clusterReference: String?,
        targetType: String,
        name: String?,
        value: String?
    ) throws(ClusterError) -> [TargetedAttribute] {
        guard targetType == "container-instance" else {
            throw ClusterError.invalid("Attribute targetType must be container-instance.")
        }
        if value != nil, name == nil {
            throw ClusterError.invalid("attributeValue can only be given with attributeName.")
        }
        let cluster = try cluster(clusterReference)
        return instances(in: cluster).sorted { $0.containerInstanceArn < $1.containerInstanceArn }.flatMap { instance in
            instance.attributes
                .filter { attribute in name.map { $0 == attribute.name } ?? true }
                .filter { attribute in value.map { $0 == attribute.value } ?? true }
                .map {
                    TargetedAttribute(
                        name: $0.name,
                        value: $0.value,
                        targetType: "container-instance",
                        targetId: instance.containerInstanceArn
                    )
                }
        }
    }
}

/// The fields of an EC2 instance identity document Berth uses.
struct IdentityDocument {
    var instanceId: String?
    var instanceType: String?
    var availabilityZone: String?
    var imageId: String?

    init(_ text: String?) {
        guard let data = text?.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return }
        instanceId = object["instanceId"] as? String
        instanceType = object["instanceType"] as? String
        availabilityZone = object["availabilityZone"] as? String
        imageId = object["imageId"] as? String
    }
}
