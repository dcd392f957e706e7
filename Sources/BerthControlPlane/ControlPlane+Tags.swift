import BerthModel
import Logging

extension ControlPlane {
    /// Tags of a cluster, container instance, task definition, task or service, by ARN.
    public func tags(of resourceArn: String) throws(ClusterError) -> [Tag] {
        switch try taggable(resourceArn) {
        case .cluster(let cluster): cluster.tags
        case .instance(let instance): instance.tags
        case .definition(let definition): definition.tags
        case .task(let task): task.tags
        case .service(let service): service.tags
        default: []
        }
    }

    public func tagResource(_ resourceArn: String, tags newTags: [Tag]) async throws(ClusterError) {
        try await retag(resourceArn) { tags throws(ClusterError) in
            for tag in newTags {
                tags.removeAll { $0.key == tag.key }
                tags.append(tag)
            }
            try Self.validate(tags: tags)
        }
    }

    public func untagResource(_ resourceArn: String, keys: [String]) async throws(ClusterError) {
        try await retag(resourceArn) { tags throws(ClusterError) in tags.removeAll { keys.contains($0.key) } }
    }

    private func retag(
        _ resourceArn: String,
        _ change: (inout [Tag]) throws(ClusterError) -> Void
    ) async throws(ClusterError) {
        try await transact { () throws(ClusterError) -> ([Staged], Void) in
            switch try taggable(resourceArn) {
            case .cluster(var cluster):
                try change(&cluster.tags)
                return ([.cluster(cluster)], ())
            case .instance(var instance):
                try change(&instance.tags)
                return ([.instance(instance)], ())
            case .definition(var definition):
                try change(&definition.tags)
                return ([.definition(definition)], ())
            case .task(var task):
                try change(&task.tags)
                return ([.task(task)], ())
            case .service(var service):
                try change(&service.tags)
                return ([.service(service)], ())
            default:
                return ([], ())
            }
        }
    }

    private func taggable(_ resourceArn: String) throws(ClusterError) -> Staged {
        guard let arn = ARN(resourceArn), arn.service == "ecs" else {
            throw ClusterError.invalid("The ARN '\(resourceArn)' is not a valid ECS resource ARN.")
        }
        let parts = arn.resource.split(separator: "/").map(String.init)
        let missing = ClusterError(.resourceNotFound, "The specified resource could not be found.")
        switch arn.resourceType {
        case "cluster":
            guard parts.count == 2, let cluster = clusters[parts[1]]?.value, cluster.status == .active else {
                throw missing
            }
            return .cluster(cluster)
        case "container-instance":
            guard let instance = instances[resourceArn]?.value, instance.status != .inactive else { throw missing }
            return .instance(instance)
        case "task-definition":
            guard parts.count == 2, let definition = definitions[parts[1]]?.value else { throw missing }
            return .definition(definition)
        case "task":
            guard let task = tasks[resourceArn]?.value else { throw missing }
            return .task(task)
        case "service":
            guard let service = services[resourceArn]?.value, service.status != .inactive else { throw missing }
            return .service(service)
        default:
            throw ClusterError.invalid("Resources of type '\(arn.resourceType)' cannot be tagged.")
        }
    }
}
