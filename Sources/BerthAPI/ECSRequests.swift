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
