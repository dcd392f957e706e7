public import BerthAgent
import BerthModel
public import DockerEngine
public import Foundation
import HTTPTypes
public import Hummingbird
public import NIOCore

/// What the task metadata endpoint reads: the agent's task records and Docker's view of their containers.
public protocol TaskMetadataSource: Sendable {
    /// The task with the container whose metadata key is `key`, and that container's name.
    func task(ofContainerKey key: String) async -> (task: TaskRecord, container: String)?
    func inspect(_ dockerID: String) async -> ContainerInspect?
    /// One sample of the container's resource use, as dockerd's JSON.
    func stats(_ dockerID: String) async -> Data?
}

/// The ECS task metadata endpoint, versions 3 and 4: each container reads its own document, its task's, and
/// their Docker statistics, under the URLs it was given as ECS_CONTAINER_METADATA_URI and
/// ECS_CONTAINER_METADATA_URI_V4. Shapes and member names are the ECS agent's; for bridge and host tasks the
/// two versions' documents are the same (v4 adds only awsvpc network details and Fargate members).
public enum TaskMetadataRouter {
    public static let versions = ["v3", "v4"]

    public static func make(
        source: any TaskMetadataSource,
        limiter: RequestRateLimiter? = nil
    ) -> Router<TaskMetadataRequestContext> {
        let router = Router(context: TaskMetadataRequestContext.self)
        if let limiter { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        for version in versions {
            router.get("/\(version)/:key") { _, context in
                try await answer(version, context, source) { task, container in
                    await containerResponse(container, of: task, source: source)
                }
            }
            router.get("/\(version)/:key/task") { _, context in
                try await answer(version, context, source) { task, _ in await taskResponse(task, source: source) }
            }
            router.get("/\(version)/:key/stats") { _, context in
                let key = try context.parameters.require("key")
                guard let (task, name) = await source.task(ofContainerKey: key),
                    let dockerID = task.container(named: name)?.dockerID
                else { return notFound(version, key) }
                return raw(await source.stats(dockerID) ?? Data("null".utf8))
            }
            router.get("/\(version)/:key/task/stats") { _, context in
                let key = try context.parameters.require("key")
                guard let (task, _) = await source.task(ofContainerKey: key) else { return notFound(version, key) }
                return raw(await taskStats(task, source: source))
            }
        }
        return router
    }

    /// Docker's answers as they come, keyed by Docker ID, null for a container Docker does not answer for.
    static func taskStats(_ task: TaskRecord, source: any TaskMetadataSource) async -> Data {
        let ids = task.containers.compactMap(\.dockerID)
        let samples = await withTaskGroup(of: (String, Data?).self) { group in
            for id in ids { group.addTask { (id, await source.stats(id)) } }
            var samples: [String: Data] = [:]
            for await (id, data) in group { samples[id] = data ?? Data("null".utf8) }
            return samples
        }
        var body = Data("{".utf8)
        for (index, id) in ids.sorted().enumerated() {
            if index > 0 { body.append(Data(",".utf8)) }
            body.append(Data("\"\(id)\":".utf8))
            body.append(samples[id] ?? Data("null".utf8))
        }
        body.append(Data("}".utf8))
        return body
    }

    private static func answer(
        _ version: String,
        _ context: TaskMetadataRequestContext,
        _ source: any TaskMetadataSource,
        _ body: (TaskRecord, String) async -> some Encodable
    ) async throws -> Response {
        let key = try context.parameters.require("key")
        guard let (task, name) = await source.task(ofContainerKey: key) else { return notFound(version, key) }
        return IntrospectionRouter.json(.ok, await body(task, name))
    }

    /// As the ECS agent answers a key it does not know: 404 with a JSON string.
    private static func notFound(_ version: String, _ key: String) -> Response {
        IntrospectionRouter.json(
            .notFound,
            "\(version.uppercased()) metadata handler: no container with endpoint ID \(key)"
        )
    }

    private static func raw(_ data: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func taskResponse(_ task: TaskRecord, source: any TaskMetadataSource) async -> TaskMetadata {
        var containers: [ContainerMetadata] = []
        for container in task.containers {
            containers.append(await containerResponse(container.name, of: task, source: source))
        }
        let payload = task.payload
        return TaskMetadata(
            Cluster: payload.clusterArn,
            TaskARN: task.arn,
            Family: payload.family,
            Revision: String(payload.revision),
            DesiredStatus: task.desiredStatus.rawValue,
            KnownStatus: task.knownStatus.name,
            Containers: containers,
            Limits: payload.cpu == nil && payload.memory == nil
                ? nil : Limits(CPU: payload.cpu.map { Double($0) / 1024 }, Memory: payload.memory),
            PullStartedAt: task.pullStartedAt.map(rfc3339),
            PullStoppedAt: task.pullStoppedAt.map(rfc3339),
            ExecutionStoppedAt: task.executionStoppedAt.map(rfc3339),
            LaunchType: "EC2"
        )
    }

    static func containerResponse(
        _ name: String,
        of task: TaskRecord,
        source: any TaskMetadataSource
    ) async
        -> ContainerMetadata
    {
        let container = task.container(named: name) ?? ContainerRecord(name: name)
        let definition = task.definition(of: name)
        let inspect: ContainerInspect? =
            if let id = container.dockerID { await source.inspect(id) } else { nil }
        let networkMode = task.payload.networkMode ?? .bridge
        let addresses = inspect?.networkSettings?.networks.values.compactMap(\.ipAddress).filter { !$0.isEmpty }
        return ContainerMetadata(
            DockerId: container.dockerID ?? "",
            Name: name,
            DockerName: container.dockerName ?? "",
            Image: definition?.image ?? "",
            ImageID: container.imageID ?? inspect?.image ?? "",
            Ports: container.networkBindings.isEmpty
                ? nil
                : container.networkBindings.map {
                    IntrospectionRouter.PortResponse(
                        ContainerPort: $0.containerPort,
                        Protocol: $0.protocol.rawValue,
                        HostPort: $0.hostPort,
                        HostIp: $0.bindIP
                    )
                },
            Labels: inspect?.configuration?.labels ?? definition?.dockerLabels,
            DesiredStatus: container.desiredStatus.rawValue,
            KnownStatus: container.knownStatus.name,
            ExitCode: container.exitCode,
            Limits: Limits(CPU: Double(definition?.cpu ?? 0), Memory: definition?.memory ?? 0),
            CreatedAt: container.createdAt.map(rfc3339),
            StartedAt: container.startedAt.map(rfc3339),
            FinishedAt: container.finishedAt.map(rfc3339),
            Type: "NORMAL",
            Health: container.healthStatus.map { Health(status: $0.rawValue) },
            Volumes: inspect.map { $0.mounts.map { Volume(Source: $0.source, Destination: $0.destination) } },
            LogDriver: definition?.logConfiguration?.logDriver.rawValue,
            LogOptions: definition?.logConfiguration?.options,
            ContainerARN: task.payload.containerArns?[name],
            Networks: networkMode == .none
                ? nil : [Network(NetworkMode: networkMode.rawValue, IPv4Addresses: addresses ?? [])]
        )
    }

    static func rfc3339(_ timestamp: Timestamp) -> String { IntrospectionRouter.TaskResponse.rfc3339(timestamp) }

    // The ECS agent's member names, capitalised as it writes them; absent members are left out.

    struct Limits: Encodable {
        var CPU: Double?
        var Memory: Int?
    }

    struct Health: Encodable {
        var status: String
    }

    struct Volume: Encodable {
        var Source: String
        var Destination: String
    }

    struct Network: Encodable {
        var NetworkMode: String
        var IPv4Addresses: [String]
    }

    struct ContainerMetadata: Encodable {
        var DockerId: String
        var Name: String
        var DockerName: String
        var Image: String
        var ImageID: String
        var Ports: [IntrospectionRouter.PortResponse]?
        var Labels: [String: String]?
        var DesiredStatus: String
        var KnownStatus: String
        var ExitCode: Int?
        var Limits: Limits
        var CreatedAt: String?
        var StartedAt: String?
        var FinishedAt: String?
        var `Type`: String
        var Health: Health?
        var Volumes: [Volume]?
        var LogDriver: String?
        var LogOptions: [String: String]?
        var ContainerARN: String?
        var Networks: [Network]?
    }

    struct TaskMetadata: Encodable {
        var Cluster: String
        var TaskARN: String
        var Family: String
        var Revision: String
        var DesiredStatus: String
        var KnownStatus: String
        var Containers: [ContainerMetadata]
        var Limits: Limits?
        var PullStartedAt: String?
        var PullStoppedAt: String?
        var ExecutionStoppedAt: String?
        var LaunchType: String
    }
}

/// The task metadata endpoint's request context: Hummingbird's, with the client's address, by which requests
/// are rate limited.
public struct TaskMetadataRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
