import BerthModel
import Logging

/// A cluster with the counts DescribeClusters shows.
public struct ClusterSummary: Sendable, Hashable {
    public var cluster: Cluster
    public var registeredContainerInstancesCount: Int
    public var runningTasksCount: Int
    public var pendingTasksCount: Int
    public var activeServicesCount: Int
}

extension ControlPlane {
    /// Creates a cluster, or answers with the existing one of that name (CreateCluster is idempotent).
    public func createCluster(
        name: String?,
        tags: [Tag] = [],
        settings clusterSettings: [ClusterSetting] = []
    ) async throws(ClusterError) -> ClusterSummary {
        let clusterName: String
        do {
            clusterName = try ClusterName(name ?? "default").value
        } catch {
            throw ClusterError.invalid(
                "Cluster name must be 1 to 255 letters (uppercase and lowercase), numbers, hyphens and underscores."
            )
        }
        try Self.validate(tags: tags)
        let now = settings.now()
        let cluster = try await transact { () throws(ClusterError) -> ([Staged], Cluster) in
            if let existing = clusters[clusterName]?.value, existing.status == .active { return ([], existing) }
            let created = Cluster(
                clusterArn: clusterArn(clusterName),
                clusterName: clusterName,
                status: .active,
                settings: clusterSettings.isEmpty
                    ? [ClusterSetting(name: "containerInsights", value: "disabled")] : clusterSettings,
                tags: tags,
                createdAt: now
            )
            return ([.cluster(created)], created)
        }
        logger.info("cluster ready", metadata: ["cluster": "\(cluster.clusterName)"])
        return summary(of: cluster)
    }

    func summary(of cluster: Cluster) -> ClusterSummary {
        let counts = counts(liveTasks(in: cluster))
        return ClusterSummary(
            cluster: cluster,
            registeredContainerInstancesCount: cluster.status == .active ? instances(in: cluster).count : 0,
            runningTasksCount: counts.running,
            pendingTasksCount: counts.pending,
            activeServicesCount: 0
        )
    }

    /// Clusters by name or ARN; unknown ones are failures (`MISSING`), not errors. No names means `default`.
    public func describeClusters(_ references: [String]) -> (clusters: [ClusterSummary], failures: [PlacementFailure]) {
        var found: [ClusterSummary] = []
        var failures: [PlacementFailure] = []
        for reference in references.isEmpty ? ["default"] : references {
            if let name = try? clusterName(reference), let cluster = clusters[name]?.value {
                found.append(summary(of: cluster))
            } else {
                let arn = reference.hasPrefix("arn:") ? reference : clusterArn(reference)
                failures.append(PlacementFailure(arn: arn, reason: "MISSING"))
            }
        }
        return (found, failures)
    }

    /// ARNs of ACTIVE clusters, in name order.
    /// ACTIVE clusters by name.
    public func listClusters() -> [Listed<String>] {
        clusters.values.map(\.value).filter { $0.status == .active }
            .map { Listed($0.clusterArn, at: ListPosition(name: $0.clusterName)) }.sortedByPosition()
    }

    /// Deletes an empty cluster: it becomes INACTIVE (still describable), refused while instances or tasks
    /// remain.
    public func deleteCluster(_ reference: String) async throws(ClusterError) -> ClusterSummary {
        let deleted = try await transact { () throws(ClusterError) -> ([Staged], Cluster) in
            var cluster = try cluster(reference)
            // Services first: deleting them is what stops their tasks.
            if services.values.contains(where: {
                $0.value.clusterArn == cluster.clusterArn && $0.value.status != .inactive
            }) {
                throw ClusterError(
                    .clusterContainsServices,
                    "The Cluster cannot be deleted while Services are active."
                )
            }
            if !instances(in: cluster).isEmpty {
                throw ClusterError(
                    .clusterContainsContainerInstances,
                    "The Cluster cannot be deleted while Container Instances are active or draining."
                )
            }
            if !liveTasks(in: cluster).isEmpty {
                throw ClusterError(.clusterContainsTasks, "The Cluster cannot be deleted while Tasks are active.")
            }
            cluster.status = .inactive
            cluster.inactiveSince = settings.now()
            return ([.cluster(cluster)], cluster)
        }
        logger.info("cluster deleted", metadata: ["cluster": "\(deleted.clusterName)"])
        return summary(of: deleted)
    }

    public func updateClusterSettings(
        _ reference: String,
        settings newSettings: [ClusterSetting]
    ) async throws(ClusterError) -> ClusterSummary {
        for setting in newSettings where setting.name != "containerInsights" {
            throw ClusterError.invalid("Unknown cluster setting '\(setting.name)'.")
        }
        let updated = try await transact { () throws(ClusterError) -> ([Staged], Cluster) in
            var cluster = try cluster(reference)
            for setting in newSettings {
                cluster.settings.removeAll { $0.name == setting.name }
                cluster.settings.append(setting)
            }
            return ([.cluster(cluster)], cluster)
        }
        return summary(of: updated)
    }

    static func validate(tags: [Tag]) throws(ClusterError) {
        guard tags.count <= 50 else { throw ClusterError.invalid("A resource can have at most 50 tags.") }
        for tag in tags {
            guard (1...128).contains(tag.key.count) else {
                throw ClusterError.invalid("Tag keys must be 1 to 128 characters long.")
            }
            guard tag.value.count <= 256 else {
                throw ClusterError.invalid("Tag values must be at most 256 characters.")
            }
            guard !tag.key.lowercased().hasPrefix("aws:") else {
                throw ClusterError.invalid("Tag keys may not start with the reserved prefix 'aws:'.")
            }
        }
    }
}
