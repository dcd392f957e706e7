import BerthControlPlane
import BerthModel

// The ECS API's output shapes, built from the control plane's records. Members are named as in the model;
// nil members are left out, as botocore expects.

struct KeyValueView: Encodable {
    var name: String
    var value: String
}

struct FailureView: Encodable {
    var arn: String?
    var reason: String
    var detail: String?

    init(_ failure: PlacementFailure) {
        arn = failure.arn
        reason = failure.reason
        detail = failure.detail
    }
}

struct ClusterView: Encodable {
    var clusterArn: String
    var clusterName: String
    var status: String
    var registeredContainerInstancesCount: Int
    var runningTasksCount: Int
    var pendingTasksCount: Int
    var activeServicesCount: Int
    var statistics: [KeyValueView]?
    var tags: [Tag]?
    var settings: [ClusterSetting]?
    var capacityProviders: [String] = []
    var defaultCapacityProviderStrategy: [String] = []

    /// `include` as DescribeClusters takes it; `withSettings` for the answers that always show them.
    init(_ summary: ClusterSummary, include: Set<String> = [], withSettings: Bool = false) {
        clusterArn = summary.cluster.clusterArn
        clusterName = summary.cluster.clusterName
        status = summary.cluster.status.rawValue
        registeredContainerInstancesCount = summary.registeredContainerInstancesCount
        runningTasksCount = summary.runningTasksCount
        pendingTasksCount = summary.pendingTasksCount
        activeServicesCount = summary.activeServicesCount
        if include.contains("STATISTICS") {
            statistics = [
                KeyValueView(name: "runningEC2TasksCount", value: String(summary.runningTasksCount)),
                KeyValueView(name: "pendingEC2TasksCount", value: String(summary.pendingTasksCount)),
                KeyValueView(name: "activeEC2ServiceCount", value: String(summary.activeServicesCount)),
                KeyValueView(name: "drainingEC2ServiceCount", value: "0"),
            ]
        }
        if include.contains("TAGS") { tags = summary.cluster.tags }
        if include.contains("SETTINGS") || withSettings { settings = summary.cluster.settings }
    }
}

struct AttributeView: Encodable {
    var name: String
    var value: String?
    var targetType: String?
    var targetId: String?
}

struct ContainerInstanceView: Encodable {
    var containerInstanceArn: String
    var ec2InstanceId: String?
    var version: Int
    var versionInfo: VersionInfo
    var remainingResources: [Resource]
    var registeredResources: [Resource]
    var status: String
    var agentConnected: Bool
    var runningTasksCount: Int
    var pendingTasksCount: Int
    var attributes: [AttributeView]
    var registeredAt: Timestamp
    var tags: [Tag]?

    init(_ summary: InstanceSummary, includeTags: Bool = true) {
        let instance = summary.instance
        containerInstanceArn = instance.containerInstanceArn
        ec2InstanceId = instance.ec2InstanceId
        version = instance.version
        versionInfo = instance.versionInfo
        remainingResources = instance.remainingResources
        registeredResources = instance.registeredResources
        status = instance.status.rawValue
        agentConnected = instance.agentConnected
        runningTasksCount = summary.runningTasksCount
        pendingTasksCount = summary.pendingTasksCount
        attributes = instance.attributes.map { AttributeView(name: $0.name, value: $0.value) }
        registeredAt = instance.registeredAt
        tags = includeTags ? instance.tags : nil
    }
}

struct TaskDefinitionView: Encodable {
    var taskDefinitionArn: String
    var family: String
    var revision: Int
    var status: String
    var containerDefinitions: [ContainerDefinition]
    var volumes: [Volume]
    var networkMode: NetworkMode?
    var cpu: String?
    var memory: String?
    var placementConstraints: [PlacementConstraint]
    var requiresCompatibilities: [String]?
    var compatibilities = ["EC2", "EXTERNAL"]
    var taskRoleArn: String?
    var executionRoleArn: String?
    var registeredAt: Timestamp
    var deregisteredAt: Timestamp?

    init(_ definition: TaskDefinition) {
        taskDefinitionArn = definition.taskDefinitionArn
        family = definition.family
        revision = definition.revision
        status = definition.status.rawValue
        containerDefinitions = definition.containerDefinitions
        volumes = definition.volumes
        networkMode = definition.networkMode
        cpu = definition.cpu
        memory = definition.memory
        placementConstraints = definition.placementConstraints
        requiresCompatibilities = definition.requiresCompatibilities
        taskRoleArn = definition.taskRoleArn
        executionRoleArn = definition.executionRoleArn
        registeredAt = definition.registeredAt
        deregisteredAt = definition.deregisteredAt
    }
}

struct ContainerView: Encodable {
    var containerArn: String
    var taskArn: String
    var name: String
    var image: String
    var imageDigest: String?
    var runtimeId: String?
    var lastStatus: String
    var exitCode: Int?
    var reason: String?
    var networkBindings: [NetworkBinding]
    var networkInterfaces: [String] = []
    var healthStatus: HealthStatus?
    var cpu: String?
    var memory: String?
    var memoryReservation: String?

    init(_ container: TaskContainer, taskArn: String) {
        containerArn = container.containerArn
        self.taskArn = taskArn
        name = container.name
        image = container.image
        imageDigest = container.imageDigest
        runtimeId = container.runtimeId
        lastStatus = container.lastStatus
        exitCode = container.exitCode
        reason = container.reason
        networkBindings = container.networkBindings
        healthStatus = container.healthStatus
        cpu = String(container.cpu ?? 0)
        memory = container.memory.map(String.init)
        memoryReservation = container.memoryReservation.map(String.init)
    }
}

struct TaskOverrideView: Encodable {
    var containerOverrides: [ContainerOverride]
    var inferenceAcceleratorOverrides: [String] = []
    var cpu: String?
    var memory: String?
}

struct TaskView: Encodable {
    var taskArn: String
    var clusterArn: String
    var taskDefinitionArn: String
    var containerInstanceArn: String
    var overrides: TaskOverrideView
    var lastStatus: String
    var desiredStatus: String
    var cpu: String?
    var memory: String?
    var containers: [ContainerView]
    var startedBy: String?
    var version: Int
    var stoppedReason: String?
    var stopCode: TaskStopCode?
    var connectivity: String?
    var connectivityAt: Timestamp?
    var pullStartedAt: Timestamp?
    var pullStoppedAt: Timestamp?
    var executionStoppedAt: Timestamp?
    var createdAt: Timestamp
    var startedAt: Timestamp?
    var stoppingAt: Timestamp?
    var stoppedAt: Timestamp?
    var group: String
    var launchType = "EC2"
    var attachments: [String] = []
    var healthStatus: HealthStatus?
    var tags: [Tag]?

    init(_ task: ClusterTask, includeTags: Bool = false) {
        taskArn = task.taskArn
        clusterArn = task.clusterArn
        taskDefinitionArn = task.taskDefinitionArn
        containerInstanceArn = task.containerInstanceArn
        overrides = TaskOverrideView(
            containerOverrides: task.overrides.containerOverrides
                ?? task.containers.map { ContainerOverride(name: $0.name) },
            cpu: task.overrides.cpu,
            memory: task.overrides.memory
        )
        lastStatus = task.lastStatus
        desiredStatus = task.desiredStatus.rawValue
        cpu = task.cpu
        memory = task.memory
        containers = task.containers.map { ContainerView($0, taskArn: task.taskArn) }
        startedBy = task.startedBy
        version = task.version
        stoppedReason = task.stoppedReason
        stopCode = task.stopCode
        connectivity = task.startedAt == nil ? nil : "CONNECTED"
        connectivityAt = task.startedAt
        pullStartedAt = task.pullStartedAt
        pullStoppedAt = task.pullStoppedAt
        executionStoppedAt = task.executionStoppedAt
        createdAt = task.createdAt
        startedAt = task.startedAt
        stoppingAt = task.stoppingAt
        stoppedAt = task.stoppedAt
        group = task.group
        healthStatus = task.healthStatus ?? (task.containers.contains { $0.healthStatus != nil } ? .unknown : nil)
        tags = includeTags ? task.tags : nil
    }
}

struct ServicesOutput: Encodable {
    var services: [ServiceView]
    var failures: [FailureView]
}

/// A service as DescribeServices shows it.
struct ServiceView: Encodable {
    var serviceArn: String
    var serviceName: String
    var clusterArn: String
    var loadBalancers: [String] = []
    var serviceRegistries: [String] = []
    var status: String
    var desiredCount: Int
    var runningCount: Int
    var pendingCount: Int
    var launchType = "EC2"
    var taskDefinition: String
    var deploymentConfiguration: DeploymentConfigurationView
    var deployments: [DeploymentView]
    var events: [ServiceEvent]
    var createdAt: Timestamp
    var placementConstraints: [PlacementConstraint]
    var placementStrategy: [PlacementStrategy]
    var schedulingStrategy: String
    var enableECSManagedTags = false
    var propagateTags = "NONE"
    var enableExecuteCommand = false
    var tags: [Tag]?

    struct DeploymentConfigurationView: Encodable {
        var deploymentCircuitBreaker: DeploymentConfiguration.CircuitBreaker
        var maximumPercent: Int
        var minimumHealthyPercent: Int
    }

    struct DeploymentView: Encodable {
        var id: String
        var status: String
        var taskDefinition: String
        var desiredCount: Int
        var pendingCount: Int
        var runningCount: Int
        var failedTasks: Int
        var createdAt: Timestamp
        var updatedAt: Timestamp
        var launchType = "EC2"
        var rolloutState: String
        var rolloutStateReason: String
    }

    init(_ service: ClusterService, includeTags: Bool = false) {
        serviceArn = service.serviceArn
        serviceName = service.serviceName
        clusterArn = service.clusterArn
        status = service.status.rawValue
        desiredCount = service.desiredCount
        runningCount = service.runningCount
        pendingCount = service.pendingCount
        taskDefinition = service.taskDefinition
        let configuration = service.deploymentConfiguration
        deploymentConfiguration = DeploymentConfigurationView(
            deploymentCircuitBreaker: configuration.deploymentCircuitBreaker
                ?? DeploymentConfiguration.CircuitBreaker(enable: false, rollback: false),
            maximumPercent: configuration.maximumPercent,
            minimumHealthyPercent: configuration.minimumHealthyPercent
        )
        deployments = service.deployments.map {
            DeploymentView(
                id: $0.id,
                status: $0.status,
                taskDefinition: $0.taskDefinition,
                desiredCount: $0.desiredCount,
                pendingCount: $0.pendingCount,
                runningCount: $0.runningCount,
                failedTasks: $0.failedTasks,
                createdAt: $0.createdAt,
                updatedAt: $0.updatedAt,
                rolloutState: $0.rolloutState.rawValue,
                rolloutStateReason: $0.rolloutStateReason
            )
        }
        events = service.events
        createdAt = service.createdAt
        placementConstraints = service.placementConstraints
        placementStrategy = service.placementStrategy
        schedulingStrategy = service.schedulingStrategy.rawValue
        tags = includeTags ? service.tags : nil
    }
}
