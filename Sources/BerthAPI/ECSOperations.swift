import BerthAgentChannel
import BerthControlPlane
import BerthModel
import Foundation

/// The ECS operations Berth serves: each decodes its input, calls the control plane, and shapes the
/// answer as the model names it. Validation against the model happens before, in ``ECSSchema``.
struct ECSOperations: Sendable {
    /// An operation: the control plane, the request body, and the access key ID it was signed with (nil
    /// when the API checks no signatures).
    typealias Handler = @Sendable (ControlPlane, Data, String?) async throws -> any Encodable

    let controlPlane: ControlPlane
    /// What DiscoverPollEndpoint answers: where this control plane listens.
    let endpoint: String

    /// Runs `operation` on a body already checked against the model; the answer is the JSON to send.
    func handle(_ operation: String, body: Data, caller: String? = nil) async throws(APIError) -> Data {
        guard let handler = Self.handlers[operation] ?? discoverPollEndpoint(operation) else {
            if let refusal = Self.refused[operation] { throw refusal }
            throw APIError(.unknownOperation, "Operation \(operation) is not supported by Berth.")
        }
        let output: any Encodable
        do {
            // A replica answers from every commit acknowledged before the call, whichever replica made it.
            if Self.handlers[operation] != nil { try await controlPlane.catchUp() }
            output = try await handler(controlPlane, body, caller)
        } catch let error as APIError {
            throw error
        } catch let error as ClusterError {
            throw APIError(error)
        } catch let error as DecodingError {
            throw APIError(.serialization, Self.describe(error))
        } catch {
            throw APIError(.server, "Unexpected failure: \(error)")
        }
        do {
            return try Self.encoder.encode(output)
        } catch {
            throw APIError(.server, "Cannot encode the answer: \(error)")
        }
    }

    /// The model's operations that cannot apply to self-managed hosts, each refused with why, in an
    /// exception the operation's model lists (README lists them too).
    static let refused: [String: APIError] = {
        let expressGateway = APIError(
            .unsupportedFeature,
            "Express Gateway services are AWS-managed (an ALB, Fargate and an infrastructure role in an AWS account); "
                + "Berth has no such backend. Create a service with CreateService instead."
        )
        return [
            "CreateExpressGatewayService": expressGateway,
            "DeleteExpressGatewayService": expressGateway,
            "DescribeExpressGatewayService": expressGateway,
            "UpdateExpressGatewayService": expressGateway,
            "ExecuteCommand": APIError(
                .client,
                "ExecuteCommand needs an SSM Session Manager backend, which Berth does not have; "
                    + "run `docker exec` on the container's host instead."
            ),
            "UpdateContainerAgent": APIError(
                .client,
                "Berth's agent is updated with its Debian package on each host (apt-get install berth), "
                    + "not through the control plane."
            ),
            "SubmitAttachmentStateChanges": APIError(
                .client,
                "Berth's agents attach no elastic network interfaces, so there are no attachment states to submit."
            ),
            "ListServicesByNamespace": APIError(
                .client,
                "Berth has no Service Connect or Cloud Map namespaces, so no service belongs to one."
            ),
        ]
    }()

    private func discoverPollEndpoint(_ operation: String) -> Handler? {
        guard operation == "DiscoverPollEndpoint" else { return nil }
        let endpoint = self.endpoint
        return { plane, body, _ in
            // Replicas that say where agents reach them spread the agents' channels over themselves.
            let request = try Self.decoder.decode(DiscoverPollEndpointRequest.self, from: body)
            let steered = await plane.pollEndpoint(forInstance: request.containerInstance, cluster: request.cluster)
            let answer = steered ?? endpoint
            return ["endpoint": answer, "telemetryEndpoint": answer, "serviceConnectEndpoint": answer]
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // ARNs are full of slashes; "\/" is valid JSON but nothing AWS sends.
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()
    static let decoder = JSONDecoder()

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
            .dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return "Invalid request at '\(path)': \(context.debugDescription)"
        @unknown default:
            return "Invalid request."
        }
    }

    static func op<Input: Decodable & Sendable>(
        _ body: @escaping @Sendable (ControlPlane, Input) async throws -> any Encodable
    ) -> Handler {
        { controlPlane, data, _ in
            let input = try decoder.decode(Input.self, from: data.isEmpty ? Data("{}".utf8) : data)
            return try await body(controlPlane, input)
        }
    }

    /// An operation that needs to know who signed the call.
    static func signedOp<Input: Decodable & Sendable>(
        _ body: @escaping @Sendable (ControlPlane, Input, String?) async throws -> any Encodable
    ) -> Handler {
        { controlPlane, data, caller in
            let input = try decoder.decode(Input.self, from: data.isEmpty ? Data("{}".utf8) : data)
            return try await body(controlPlane, input, caller)
        }
    }

    static let handlers: [String: Handler] = [
        "CreateCluster": op { (plane, input: CreateClusterRequest) in
            let summary = try await plane.createCluster(
                name: input.clusterName,
                tags: input.tags ?? [],
                settings: input.settings ?? []
            )
            return ["cluster": ClusterView(summary, include: ["TAGS"], withSettings: true)]
        },
        "DescribeClusters": op { (plane, input: DescribeClustersRequest) in
            let references = input.clusters ?? []
            guard references.count <= 100 else {
                throw ClusterError(.invalidParameter, "At most 100 clusters can be described per call.")
            }
            let (clusters, failures) = await plane.describeClusters(references)
            let include = Set(input.include ?? [])
            return ClustersOutput(
                clusters: clusters.map { ClusterView($0, include: include) },
                failures: failures.map(FailureView.init)
            )
        },
        "ListClusters": op { (plane, input: PageRequest) in
            let page = try Page(await plane.listClusters(), input.nextToken, input.maxResults)
            return ListOutput(key: "clusterArns", page: page)
        },
        "DeleteCluster": op { (plane, input: DeleteClusterRequest) in
            ["cluster": ClusterView(try await plane.deleteCluster(input.cluster), withSettings: true)]
        },
        "UpdateClusterSettings": op { (plane, input: UpdateClusterSettingsRequest) in
            let summary = try await plane.updateClusterSettings(input.cluster, settings: input.settings)
            return ["cluster": ClusterView(summary, withSettings: true)]
        },
        "RegisterContainerInstance": signedOp { (plane, input: RegisterContainerInstanceRequest, caller) in
            var attributes: [Attribute] = []
            for attribute in input.attributes ?? [] {
                do {
                    attributes.append(try Attribute(name: attribute.name, value: attribute.value))
                } catch let error as ModelError {
                    throw ClusterError(.invalidParameter, error.message)
                }
            }
            let request = InstanceRegistrationRequest(
                cluster: input.cluster,
                containerInstanceArn: input.containerInstanceArn,
                totalResources: input.totalResources ?? [],
                attributes: attributes,
                versionInfo: input.versionInfo ?? VersionInfo(),
                instanceIdentityDocument: input.instanceIdentityDocument,
                tags: input.tags ?? [],
                registeredBy: caller
            )
            return ["containerInstance": ContainerInstanceView(try await plane.registerInstance(request))]
        },
        "DescribeContainerInstances": op { (plane, input: DescribeContainerInstancesRequest) in
            guard (1...100).contains(input.containerInstances.count) else {
                throw ClusterError(
                    .invalidParameter,
                    "Between 1 and 100 container instances can be described per call."
                )
            }
            let (found, failures) = try await plane.describeInstances(input.containerInstances, cluster: input.cluster)
            let tags = input.include?.contains("TAGS") == true
            return InstancesOutput(
                containerInstances: found.map { ContainerInstanceView($0, includeTags: tags) },
                failures: failures.map(FailureView.init)
            )
        },
        "ListContainerInstances": op { (plane, input: ListContainerInstancesRequest) in
            let status = try input.status.map { text throws(ClusterError) -> InstanceStatus in
                guard let status = InstanceStatus(rawValue: text) else {
                    throw ClusterError(.invalidParameter, "Unknown container instance status '\(text)'.")
                }
                return status
            }
            let arns = try await plane.listInstances(cluster: input.cluster, filter: input.filter, status: status)
            return ListOutput(key: "containerInstanceArns", page: try Page(arns, input.nextToken, input.maxResults))
        },
        "DeregisterContainerInstance": op { (plane, input: DeregisterContainerInstanceRequest) in
            let summary = try await plane.deregisterInstance(
                input.containerInstance,
                cluster: input.cluster,
                force: input.force ?? false
            )
            return ["containerInstance": ContainerInstanceView(summary)]
        },
        "UpdateContainerInstancesState": op { (plane, input: UpdateContainerInstancesStateRequest) in
            guard let status = InstanceStatus(rawValue: input.status) else {
                throw ClusterError(.invalidParameter, "Unknown container instance status '\(input.status)'.")
            }
            let (updated, failures) = try await plane.updateInstancesState(
                input.containerInstances,
                cluster: input.cluster,
                status: status
            )
            return InstancesOutput(
                containerInstances: updated.map { ContainerInstanceView($0) },
                failures: failures.map(FailureView.init)
            )
        },
        "RegisterTaskDefinition": op { (plane, input: RegisterTaskDefinitionRequest) in
            let definition = try await plane.registerTaskDefinition(
                TaskDefinitionRegistration(
                    family: input.family,
                    containerDefinitions: input.containerDefinitions,
                    volumes: input.volumes ?? [],
                    networkMode: input.networkMode,
                    cpu: input.cpu,
                    memory: input.memory,
                    placementConstraints: input.placementConstraints ?? [],
                    requiresCompatibilities: input.requiresCompatibilities,
                    taskRoleArn: input.taskRoleArn,
                    executionRoleArn: input.executionRoleArn,
                    tags: input.tags ?? []
                )
            )
            return TaskDefinitionOutput(taskDefinition: TaskDefinitionView(definition), tags: definition.tags)
        },
        "DescribeTaskDefinition": op { (plane, input: TaskDefinitionRequest) in
            let definition = try await plane.describeTaskDefinition(input.taskDefinition)
            let tags = input.include?.contains("TAGS") == true ? definition.tags : nil
            return TaskDefinitionOutput(taskDefinition: TaskDefinitionView(definition), tags: tags)
        },
        "ListTaskDefinitions": op { (plane, input: ListTaskDefinitionsRequest) in
            let arns = await plane.listTaskDefinitions(
                familyPrefix: input.familyPrefix,
                status: TaskDefinitionFilter(rawValue: input.status ?? "ACTIVE") ?? .active,
                descending: input.sort == "DESC"
            )
            return ListOutput(
                key: "taskDefinitionArns",
                page: try Page(arns, input.nextToken, input.maxResults, descending: input.sort == "DESC")
            )
        },
        "ListTaskDefinitionFamilies": op { (plane, input: ListTaskDefinitionsRequest) in
            let families = await plane.listTaskDefinitionFamilies(
                familyPrefix: input.familyPrefix,
                status: TaskDefinitionFilter(rawValue: input.status ?? "ACTIVE") ?? .active
            )
            return ListOutput(key: "families", page: try Page(families, input.nextToken, input.maxResults))
        },
        "DeregisterTaskDefinition": op { (plane, input: TaskDefinitionRequest) in
            ["taskDefinition": TaskDefinitionView(try await plane.deregisterTaskDefinition(input.taskDefinition))]
        },
        "DeleteTaskDefinitions": op { (plane, input: DeleteTaskDefinitionsRequest) in
            let (deleted, failures) = try await plane.deleteTaskDefinitions(input.taskDefinitions)
            return DeleteTaskDefinitionsOutput(
                taskDefinitions: deleted.map(TaskDefinitionView.init),
                failures: failures.map(FailureView.init)
            )
        },
        "RunTask": op { (plane, input: RunTaskRequest) in try await launch(plane, input, startTask: false) },
        "StartTask": op { (plane, input: RunTaskRequest) in try await launch(plane, input, startTask: true) },
        "DescribeTasks": op { (plane, input: DescribeTasksRequest) in
            let (found, failures) = try await plane.describeTasks(input.tasks, cluster: input.cluster)
            let tags = input.include?.contains("TAGS") == true
            return TasksOutput(
                tasks: found.map { TaskView($0, includeTags: tags) },
                failures: failures.map(FailureView.init)
            )
        },
        "ListTasks": op { (plane, input: ListTasksRequest) in
            var desired: DesiredStatus?
            if let text = input.desiredStatus {
                // ECS accepts PENDING here, and it matches nothing.
                if text == "PENDING" {
                    return ListOutput(
                        key: "taskArns",
                        page: try Page([Listed<String>](), input.nextToken, input.maxResults)
                    )
                }
                desired = DesiredStatus(rawValue: text)
            }
            let filter = TaskListFilter(
                cluster: input.cluster,
                containerInstance: input.containerInstance,
                family: input.family,
                startedBy: input.startedBy,
                desiredStatus: desired,
                serviceName: input.serviceName
            )
            return ListOutput(
                key: "taskArns",
                page: try Page(try await plane.listTasks(filter), input.nextToken, input.maxResults)
            )
        },
        "CreateService": op { (plane, input: CreateServiceRequest) in
            let request = try input.request()
            return ["service": ServiceView(try await plane.createService(request), includeTags: true)]
        },
        "UpdateService": op { (plane, input: UpdateServiceRequest) in
            ["service": ServiceView(try await plane.updateService(try input.update()))]
        },
        "DeleteService": op { (plane, input: DeleteServiceRequest) in
            let deleted = try await plane.deleteService(
                input.service,
                cluster: input.cluster,
                force: input.force ?? false
            )
            return ["service": ServiceView(deleted)]
        },
        "DescribeServices": op { (plane, input: DescribeServicesRequest) in
            let (found, failures) = try await plane.describeServices(input.services, cluster: input.cluster)
            let tags = input.include?.contains("TAGS") == true
            return ServicesOutput(
                services: found.map { ServiceView($0, includeTags: tags) },
                failures: failures.map(FailureView.init)
            )
        },
        "ListServices": op { (plane, input: ListServicesRequest) in
            var arns = try await plane.listServices(
                cluster: input.cluster,
                schedulingStrategy: input.schedulingStrategy.flatMap(SchedulingStrategy.init(rawValue:))
            )
            if let launchType = input.launchType, launchType != "EC2" { arns = [] }
            return ListOutput(
                key: "serviceArns",
                page: try Page(arns, input.nextToken, input.maxResults, defaultSize: 10)
            )
        },
        "StopTask": op { (plane, input: StopTaskRequest) in
            ["task": TaskView(try await plane.stopTask(input.task, cluster: input.cluster, reason: input.reason))]
        },
        "SubmitTaskStateChange": signedOp { (plane, input: SubmitTaskStateChangeRequest, caller) in
            var containers: [ContainerStateChange] = []
            for change in input.containers ?? [] {
                guard let name = change.containerName, let status = change.status.flatMap(BackendStatus.init) else {
                    continue
                }
                var container = ContainerStateChange(
                    containerName: name,
                    runtimeId: change.runtimeId,
                    status: status,
                    exitCode: change.exitCode,
                    reason: change.reason,
                    networkBindings: change.networkBindings,
                    imageDigest: change.imageDigest
                )
                if let health = change.healthStatus {
                    guard let parsed = HealthStatus(rawValue: health) else {
                        throw ClusterError(.invalidParameter, "healthStatus must be HEALTHY, UNHEALTHY or UNKNOWN.")
                    }
                    container.healthStatus = parsed
                }
                containers.append(container)
            }
            if let sequence = input.sequence {
                guard let task = input.task, let status = input.status.flatMap(BackendStatus.init),
                    let reportedAt = input.reportedAt
                else {
                    throw ClusterError(
                        .invalidParameter,
                        "An agent's report needs a task, reportedAt and a status of PENDING, RUNNING or STOPPED."
                    )
                }
                var stopCode: TaskStopCode?
                if let code = input.stopCode {
                    guard let parsed = TaskStopCode(rawValue: code) else {
                        throw ClusterError(.invalidParameter, "stopCode '\(code)' is not a TaskStopCode.")
                    }
                    stopCode = parsed
                }
                let change = TaskStateChange(
                    taskArn: task,
                    sequence: sequence,
                    status: status,
                    reason: input.reason,
                    stopCode: stopCode,
                    at: reportedAt,
                    pullStartedAt: input.pullStartedAt,
                    pullStoppedAt: input.pullStoppedAt,
                    executionStoppedAt: input.executionStoppedAt,
                    containers: containers
                )
                try await plane.agentReported(change, cluster: input.cluster, caller: caller)
                return ["acknowledgment": "ACK"]
            }
            try await plane.submitExternalStateChange(
                task: input.task,
                cluster: input.cluster,
                status: input.status.flatMap(BackendStatus.init),
                reason: input.reason,
                containers: containers,
                pullStartedAt: input.pullStartedAt,
                pullStoppedAt: input.pullStoppedAt,
                executionStoppedAt: input.executionStoppedAt
            )
            return ["acknowledgment": "ACK"]
        },
        "SubmitContainerStateChange": op { (plane, input: SubmitContainerStateChangeRequest) in
            guard let name = input.containerName, let status = input.status.flatMap(BackendStatus.init) else {
                throw ClusterError(
                    .invalidParameter,
                    "containerName and a status of PENDING, RUNNING or STOPPED are required."
                )
            }
            let change = ContainerStateChange(
                containerName: name,
                runtimeId: input.runtimeId,
                status: status,
                exitCode: input.exitCode,
                reason: input.reason,
                networkBindings: input.networkBindings
            )
            try await plane.submitExternalStateChange(
                task: input.task,
                cluster: input.cluster,
                status: nil,
                reason: nil,
                containers: [change]
            )
            return ["acknowledgment": "ACK"]
        },
        "PutAttributes": op { (plane, input: AttributesRequest) in
            let echoed = try await plane.putAttributes(input.attributes.map(targeted), cluster: input.cluster)
            return ["attributes": echoed.map(view)]
        },
        "DeleteAttributes": op { (plane, input: AttributesRequest) in
            let echoed = try await plane.deleteAttributes(input.attributes.map(targeted), cluster: input.cluster)
            return ["attributes": echoed.map(view)]
        },
        "ListAttributes": op { (plane, input: ListAttributesRequest) in
            let attributes = try await plane.listAttributes(
                cluster: input.cluster,
                targetType: input.targetType,
                name: input.attributeName,
                value: input.attributeValue
            )
            // An attribute's name is unique on its target.
            let listed = attributes.map {
                Listed(view($0), at: ListPosition(name: "\($0.targetId ?? "")\u{0}\($0.name)"))
            }
            let page = try Page(listed, input.nextToken, input.maxResults)
            return AttributesPage(attributes: page.items, nextToken: page.nextToken)
        },
        "TagResource": op { (plane, input: TagResourceRequest) in
            try await plane.tagResource(input.resourceArn, tags: input.tags)
            return EmptyOutput()
        },
        "UntagResource": op { (plane, input: UntagResourceRequest) in
            try await plane.untagResource(input.resourceArn, keys: input.tagKeys)
            return EmptyOutput()
        },
        "ListTagsForResource": op { (plane, input: ResourceRequest) in
            ["tags": try await plane.tags(of: input.resourceArn)]
        },
    ]

    static func launch(_ plane: ControlPlane, _ input: RunTaskRequest, startTask: Bool) async throws -> TasksOutput {
        if let launchType = input.launchType, launchType != "EC2", launchType != "EXTERNAL" {
            throw ClusterError(
                .invalidParameter,
                "Berth runs tasks on EC2 and EXTERNAL instances only, not \(launchType)."
            )
        }
        if startTask, input.containerInstances?.isEmpty != false {
            throw ClusterError(.invalidParameter, "containerInstances is required.")
        }
        let (tasks, failures) = try await plane.launch(
            TaskLaunch(
                cluster: input.cluster,
                taskDefinition: input.taskDefinition,
                count: input.count ?? 1,
                group: input.group,
                startedBy: input.startedBy,
                overrides: input.overrides ?? TaskOverride(),
                placementConstraints: input.placementConstraints ?? [],
                placementStrategy: input.placementStrategy ?? [],
                clientToken: input.clientToken,
                tags: input.tags ?? [],
                containerInstances: startTask ? input.containerInstances : nil
            )
        )
        return TasksOutput(
            tasks: tasks.map { TaskView($0, includeTags: true) },
            failures: failures.map(FailureView.init)
        )
    }

    static func targeted(_ input: AttributeInput) -> ControlPlane.TargetedAttribute {
        ControlPlane.TargetedAttribute(
            name: input.name,
            value: input.value,
            targetType: input.targetType,
            targetId: input.targetId
        )
    }

    static func view(_ attribute: ControlPlane.TargetedAttribute) -> AttributeView {
        AttributeView(
            name: attribute.name,
            value: attribute.value,
            targetType: attribute.targetType,
            targetId: attribute.targetId
        )
    }
}

/// DeleteCluster's input: the cluster, required.
struct DeleteClusterRequest: Decodable {
    var cluster: String
}

struct EmptyOutput: Encodable {}

struct ClustersOutput: Encodable {
    var clusters: [ClusterView]
    var failures: [FailureView]
}

struct InstancesOutput: Encodable {
    var containerInstances: [ContainerInstanceView]
    var failures: [FailureView]
}

struct TaskDefinitionOutput: Encodable {
    var taskDefinition: TaskDefinitionView
    var tags: [Tag]?
}

struct DeleteTaskDefinitionsOutput: Encodable {
    var taskDefinitions: [TaskDefinitionView]
    var failures: [FailureView]
}

struct TasksOutput: Encodable {
    var tasks: [TaskView]
    var failures: [FailureView]
}

struct AttributesPage: Encodable {
    var attributes: [AttributeView]
    var nextToken: String?
}

/// A page of a listing under the member name the operation uses (`clusterArns`, `taskArns`, ...).
struct ListOutput: Encodable {
    var key: String
    var page: Page<String>

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(page.items, forKey: Key(stringValue: key))
        try container.encodeIfPresent(page.nextToken, forKey: Key(stringValue: "nextToken"))
    }
}

/// One page of a listing. The token is the position of the page's last item, opaque to clients; the next
/// page starts after it, so items added or removed between pages make none of the others skipped or given
/// twice, and a token never comes back twice in a row (botocore stops with an error when it does).
struct Page<Item: Sendable>: Sendable {
    var items: [Item]
    var nextToken: String?

    /// `listed` is in the listing's order: ascending positions, or descending ones when `descending`.
    init(
        _ listed: [Listed<Item>],
        _ token: String?,
        _ maxResults: Int?,
        defaultSize: Int = 100,
        descending: Bool = false
    ) throws(ClusterError) {
        let size = maxResults ?? defaultSize
        guard (1...100).contains(size) else {
            throw ClusterError(.invalidParameter, "maxResults must be between 1 and 100.")
        }
        var start = 0
        if let token, !token.isEmpty {
            guard let after = ListPosition(pageToken: token) else {
                throw ClusterError(.invalidParameter, "The nextToken is not valid.")
            }
            // The first item past the token's position in the listing's order.
            var low = 0
            var high = listed.count
            while low < high {
                let middle = (low + high) / 2
                let position = listed[middle].position
                if descending ? position < after : after < position {
                    high = middle
                } else {
                    low = middle + 1
                }
            }
            start = low
        }
        let end = min(start + size, listed.count)
        items = listed[start..<end].map(\.item)
        nextToken = end < listed.count ? listed[end - 1].position.pageToken : nil
    }
}
