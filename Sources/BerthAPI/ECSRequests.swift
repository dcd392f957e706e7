import BerthControlPlane
import BerthModel

// The ECS API's input shapes for the operations Berth serves, decoded after ECSSchema checked the body.

struct ClusterRequest: Decodable {
    var cluster: String?
}

struct CreateClusterRequest: Decodable {
    var clusterName: String?
    var tags: [Tag]?
    var settings: [ClusterSetting]?
}

struct DescribeClustersRequest: Decodable {
    var clusters: [String]?
    var include: [String]?
}

struct PageRequest: Decodable {
    var nextToken: String?
    var maxResults: Int?
}

struct UpdateClusterSettingsRequest: Decodable {
    var cluster: String
    var settings: [ClusterSetting]
}

struct AttributeInput: Decodable {
    var name: String
    var value: String?
    var targetType: String?
    var targetId: String?
}

struct RegisterContainerInstanceRequest: Decodable {
    var cluster: String?
    var instanceIdentityDocument: String?
    var totalResources: [Resource]?
    var versionInfo: VersionInfo?
    var containerInstanceArn: String?
    var attributes: [AttributeInput]?
    var tags: [Tag]?
}

struct DescribeContainerInstancesRequest: Decodable {
    var cluster: String?
    var containerInstances: [String]
    var include: [String]?
}

struct ListContainerInstancesRequest: Decodable {
    var cluster: String?
    var filter: String?
    var status: String?
    var nextToken: String?
    var maxResults: Int?
}

struct DeregisterContainerInstanceRequest: Decodable {
    var cluster: String?
    var containerInstance: String
    var force: Bool?
}

struct UpdateContainerInstancesStateRequest: Decodable {
    var cluster: String?
    var containerInstances: [String]
    var status: String
}

struct RegisterTaskDefinitionRequest: Decodable {
    var family: String
    var containerDefinitions: [ContainerDefinition]
    var volumes: [Volume]?
    var networkMode: NetworkMode?
    var cpu: String?
    var memory: String?
    var placementConstraints: [PlacementConstraint]?
    var requiresCompatibilities: [String]?
    var taskRoleArn: String?
    var executionRoleArn: String?
    var tags: [Tag]?
}

struct TaskDefinitionRequest: Decodable {
    var taskDefinition: String
    var include: [String]?
}

struct ListTaskDefinitionsRequest: Decodable {
    var familyPrefix: String?
    var status: String?
    var sort: String?
    var nextToken: String?
    var maxResults: Int?
}

struct DeleteTaskDefinitionsRequest: Decodable {
    var taskDefinitions: [String]
}

struct RunTaskRequest: Decodable {
    var cluster: String?
    var taskDefinition: String
    var count: Int?
    var group: String?
    var startedBy: String?
    var overrides: TaskOverride?
    var placementConstraints: [PlacementConstraint]?
    var placementStrategy: [PlacementStrategy]?
    var clientToken: String?
    var tags: [Tag]?
    var launchType: String?
    var containerInstances: [String]?
}

struct DescribeTasksRequest: Decodable {
    var cluster: String?
    var tasks: [String]
    var include: [String]?
}

struct ListTasksRequest: Decodable {
    var cluster: String?
    var containerInstance: String?
    var family: String?
    var startedBy: String?
    var serviceName: String?
    var desiredStatus: String?
    var launchType: String?
    var nextToken: String?
    var maxResults: Int?
}

struct StopTaskRequest: Decodable {
    var cluster: String?
    var task: String
    var reason: String?
}

struct ContainerStateChangeInput: Decodable {
    var containerName: String?
    var runtimeId: String?
    var exitCode: Int?
    var networkBindings: [NetworkBinding]?
    var reason: String?
    var status: String?
    var imageDigest: String?
    /// Berth's agent only (not in the ECS model): the container's health as Docker reports it.
    var healthStatus: String?
}

struct SubmitTaskStateChangeRequest: Decodable {
    var cluster: String?
    var task: String?
    var status: String?
    var reason: String?
    var containers: [ContainerStateChangeInput]?
    var pullStartedAt: Timestamp?
    var pullStoppedAt: Timestamp?
    var executionStoppedAt: Timestamp?
    /// Berth's agent only (not in the ECS model): the agent's number for this change of the task, which
    /// makes the report an agent's, ordered and folded as the in-process channel's are.
    var sequence: Int?
    /// Berth's agent only: when the change happened on the host.
    var reportedAt: Timestamp?
    /// Berth's agent only: why the task stopped, as ECS's TaskStopCode.
    var stopCode: String?
}

struct SubmitContainerStateChangeRequest: Decodable {
    var cluster: String?
    var task: String?
    var containerName: String?
    var runtimeId: String?
    var status: String?
    var exitCode: Int?
    var reason: String?
    var networkBindings: [NetworkBinding]?
}

struct AttributesRequest: Decodable {
    var cluster: String?
    var attributes: [AttributeInput]
}

struct ListAttributesRequest: Decodable {
    var cluster: String?
    var targetType: String
    var attributeName: String?
    var attributeValue: String?
    var nextToken: String?
    var maxResults: Int?
}

struct TagResourceRequest: Decodable {
    var resourceArn: String
    var tags: [Tag]
}

struct UntagResourceRequest: Decodable {
    var resourceArn: String
    var tagKeys: [String]
}

struct ResourceRequest: Decodable {
    var resourceArn: String
}

struct DiscoverPollEndpointRequest: Decodable {
    var containerInstance: String?
    var cluster: String?
}

struct DeploymentConfigurationInput: Decodable {
    var maximumPercent: Int?
    var minimumHealthyPercent: Int?
    var deploymentCircuitBreaker: DeploymentConfiguration.CircuitBreaker?

    var configuration: DeploymentConfiguration {
        DeploymentConfiguration(
            maximumPercent: maximumPercent ?? 200,
            minimumHealthyPercent: minimumHealthyPercent ?? 100,
            circuitBreaker: deploymentCircuitBreaker
        )
    }
}

struct CreateServiceRequest: Decodable {
    var cluster: String?
    var serviceName: String
    var taskDefinition: String?
    var desiredCount: Int?
    var launchType: String?
    var schedulingStrategy: String?
    var deploymentConfiguration: DeploymentConfigurationInput?
    var placementConstraints: [PlacementConstraint]?
    var placementStrategy: [PlacementStrategy]?
    var tags: [Tag]?
    var loadBalancers: [JSONValue]?
    var serviceRegistries: [JSONValue]?
    var networkConfiguration: JSONValue?
    var deploymentController: DeploymentController?

    struct DeploymentController: Decodable {
        var type: String
    }

    func request() throws(ClusterError) -> ServiceRequest {
        if let controller = deploymentController?.type, controller != "ECS" {
            throw ClusterError(
                .invalidParameter,
                "Berth runs the ECS deployment controller (rolling updates), not \(controller)."
            )
        }
        guard let taskDefinition else {
            throw ClusterError(.invalidParameter, "A task definition is required for services of the EC2 launch type.")
        }
        if let launchType, launchType != "EC2" {
            throw ClusterError(.invalidParameter, "Berth runs the EC2 launch type only, not \(launchType).")
        }
        try refuseAttachments(loadBalancers, serviceRegistries, networkConfiguration)
        let strategy = schedulingStrategy.flatMap(SchedulingStrategy.init(rawValue:)) ?? .replica
        guard let desiredCount = desiredCount ?? (strategy == .daemon ? 0 : nil) else {
            throw ClusterError(
                .invalidParameter,
                "desiredCount is required for services with the REPLICA scheduling strategy."
            )
        }
        return ServiceRequest(
            cluster: cluster,
            serviceName: serviceName,
            taskDefinition: taskDefinition,
            desiredCount: desiredCount,
            schedulingStrategy: strategy,
            deploymentConfiguration: deploymentConfiguration?.configuration,
            placementConstraints: placementConstraints ?? [],
            placementStrategy: placementStrategy ?? [],
            tags: tags ?? []
        )
    }
}

struct UpdateServiceRequest: Decodable {
    var cluster: String?
    var service: String
    var desiredCount: Int?
    var taskDefinition: String?
    var forceNewDeployment: Bool?
    var deploymentConfiguration: DeploymentConfigurationInput?
    var placementConstraints: [PlacementConstraint]?
    var placementStrategy: [PlacementStrategy]?
    var loadBalancers: [JSONValue]?
    var serviceRegistries: [JSONValue]?
    var networkConfiguration: JSONValue?

    func update() throws(ClusterError) -> ServiceUpdate {
        try refuseAttachments(loadBalancers, serviceRegistries, networkConfiguration)
        return ServiceUpdate(
            cluster: cluster,
            service: service,
            desiredCount: desiredCount,
            taskDefinition: taskDefinition,
            forceNewDeployment: forceNewDeployment ?? false,
            deploymentConfiguration: deploymentConfiguration?.configuration,
            placementConstraints: placementConstraints,
            placementStrategy: placementStrategy
        )
    }
}

struct DeleteServiceRequest: Decodable {
    var cluster: String?
    var service: String
    var force: Bool?
}

struct DescribeServicesRequest: Decodable {
    var cluster: String?
    var services: [String]
    var include: [String]?
}

struct ListServicesRequest: Decodable {
    var cluster: String?
    var nextToken: String?
    var maxResults: Int?
    var launchType: String?
    var schedulingStrategy: String?
}

/// What CreateService and UpdateService may name that Berth has nothing to attach to: load balancers,
/// service registries, awsvpc networking.
func refuseAttachments(
    _ loadBalancers: [JSONValue]?,
    _ serviceRegistries: [JSONValue]?,
    _ networkConfiguration: JSONValue?
) throws(ClusterError) {
    if !(loadBalancers ?? []).isEmpty || !(serviceRegistries ?? []).isEmpty {
        throw ClusterError(
            .invalidParameter,
            "Berth has no load balancers or service registries to attach a service to."
        )
    }
    if networkConfiguration != nil {
        throw ClusterError(
            .invalidParameter,
            "networkConfiguration is for the awsvpc network mode, which Berth does not run."
        )
    }
}
