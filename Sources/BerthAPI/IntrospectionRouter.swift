public import BerthAgent
import BerthModel
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore

/// What the introspection API shows: the agent's cluster and instance, and its tasks as the engine holds
/// them. Before registration there is no instance and no engine yet.
public protocol IntrospectionSource: Sendable {
    func cluster() async -> String
    func containerInstanceArn() async -> String?
    func tasks() async -> [TaskRecord]
}

/// The ECS agent's introspection API, with its shapes: `GET /`, `/v1/metadata`, `/v1/tasks`,
/// `/v1/tasks?dockerid=` (full or short ID) and `/v1/tasks?taskarn=`; 400 for both or an ambiguous short
/// ID, 404 for nothing found.
public enum IntrospectionRouter {
    /// With `metrics`, `GET /metrics` answers with what it renders (Prometheus text format).
    public static func make(
        source: any IntrospectionSource,
        version: String,
        metrics: (@Sendable () async -> String)? = nil
    ) -> Router<BasicRequestContext> {
        let router = Router()
        if let metrics { MetricsRoute.add(to: router, metrics) }
        let index: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            json(.ok, ["AvailableCommands": ["/v1/metadata", "/v1/tasks", "/license"]])
        }
        let metadata: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            json(
                .ok,
                MetadataResponse(
                    Cluster: await source.cluster(),
                    ContainerInstanceArn: await source.containerInstanceArn(),
                    Version: "Berth Agent - v\(version)"
                )
            )
        }
        let tasks: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            await Self.tasks(request, source: source)
        }
        let license: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(
                status: .ok,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "Berth: see the package's copyright file.\n"))
            )
        }
        router.get("/", use: index)
        router.get("/v1/metadata", use: metadata)
        router.get("/v1/tasks", use: tasks)
        router.get("/license", use: license)
        return router
    }

    static func tasks(_ request: Request, source: any IntrospectionSource) async -> Response {
        let dockerID = request.uri.queryParameters.get("dockerid")
        let taskArn = request.uri.queryParameters.get("taskarn")
        let records = await source.tasks()
        switch (dockerID, taskArn) {
        case (nil, nil):
            return json(.ok, TasksResponse(Tasks: records.map(TaskResponse.init)))
        case (.some, .some):
            return json(.badRequest, ErrorResponse(error: "Request contains both dockerid and taskarn; ask with one."))
        case (.some(let id), nil):
            let matching = records.filter { record in
                record.containers.contains { container in
                    guard let full = container.dockerID else { return false }
                    return full == id || (id.count <= 12 && !id.isEmpty && full.hasPrefix(id))
                }
            }
            if matching.count > 1 {
                return json(.badRequest, ErrorResponse(error: "Short docker ID \(id) matches more than one container."))
            }
            guard let record = matching.first else {
                return json(.notFound, ErrorResponse(error: "No task with a container of docker ID \(id)."))
            }
            return json(.ok, TaskResponse(record))
        case (nil, .some(let arn)):
            guard let record = records.first(where: { $0.arn == arn }) else {
                return json(.notFound, ErrorResponse(error: "No task \(arn)."))
            }
            return json(.ok, TaskResponse(record))
        }
    }

    static func json(_ status: HTTPResponse.Status, _ body: some Encodable) -> Response {
        let data = (try? ECSOperations.encoder.encode(body)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    // The ECS agent's member names, capitalised as it writes them.

    struct MetadataResponse: Encodable {
        var Cluster: String
        var ContainerInstanceArn: String?

        var Version: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(Cluster, forKey: .Cluster)
            // null before registration, as the ECS agent answers.
            try container.encode(ContainerInstanceArn, forKey: .ContainerInstanceArn)
            try container.encode(Version, forKey: .Version)
        }

        enum CodingKeys: String, CodingKey {
            case Cluster, ContainerInstanceArn, Version
        }
    }

    struct ErrorResponse: Encodable {
        var error: String
    }

    struct TasksResponse: Encodable {
        var Tasks: [TaskResponse]
    }

    struct PortResponse: Encodable {
        var ContainerPort: Int
        var `Protocol`: String
        var HostPort: Int
        var HostIp: String
    }

    struct ContainerResponse: Encodable {
        var DockerId: String
        var DockerName: String
        var Name: String
        var Image: String
        var ImageID: String?
        var CreatedAt: String?
        var StartedAt: String?
        var Ports: [PortResponse]?
    }

    struct TaskResponse: Encodable {
        var Arn: String
        var DesiredStatus: String?
        var KnownStatus: String
        var Family: String
        var Version: String
        var Containers: [ContainerResponse]

        init(_ record: TaskRecord) {
            Arn = record.arn
            DesiredStatus = record.desiredStatus.rawValue
            KnownStatus = record.knownStatus.name
            Family = record.payload.family
            Version = String(record.payload.revision)
            let images = Dictionary(record.payload.containers.map { ($0.name, $0.image) }) { first, _ in first }
            Containers = record.containers.map { container in
                ContainerResponse(
                    DockerId: container.dockerID ?? "",
                    DockerName: container.dockerName ?? "",
                    Name: container.name,
                    Image: images[container.name] ?? "",
                    ImageID: container.imageID,
                    CreatedAt: container.createdAt.map(Self.rfc3339),
                    StartedAt: container.startedAt.map(Self.rfc3339),
                    Ports: container.networkBindings.isEmpty
                        ? nil
                        : container.networkBindings.map {
                            PortResponse(
                                ContainerPort: $0.containerPort,
                                Protocol: $0.protocol.rawValue,
                                HostPort: $0.hostPort,
                                HostIp: $0.bindIP
                            )
                        }
                )
            }
        }

        static func rfc3339(_ timestamp: Timestamp) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: Date(timeIntervalSince1970: timestamp.secondsSinceEpoch))
        }
    }
}
