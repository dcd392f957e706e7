import BerthAPI
public import BerthAgent
import BerthAgentChannel
public import BerthConfig
import BerthModel
import BerthStore
public import DockerEngine
import Foundation
import Hummingbird
public import Logging
public import Prometheus
import ServiceLifecycle
import SigV4
import UnixSignals

/// The composition root of `berth agent`: from a configuration, the agent on this host and, when no
/// ECS_BACKEND_HOST is set, the embedded control plane with its ECS API, all in one ServiceGroup.
public struct AgentDaemon: Sendable {
    public let configuration: BerthConfiguration
    public let agentVersion: String
    /// The git commit of the build, when known: registered as `agentHash` and shown by introspection.
    public let agentHash: String?
    public let logger: Logger

    /// Where the metrics the layers record are collected, for `/metrics`; nil serves none.
    public let metrics: PrometheusCollectorRegistry?

    public init(
        configuration: BerthConfiguration,
        agentVersion: String,
        agentHash: String? = nil,
        logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil
    ) {
        self.configuration = configuration
        self.agentVersion = agentVersion
        self.agentHash = agentHash
        self.logger = logger
        self.metrics = metrics
    }

    /// Runs until SIGTERM or SIGINT (graceful: task containers keep running), or until a part fails.
    /// Terminal failures (configuration, a refused registration) throw an ``AgentError`` whose
    /// `isTerminal` is true: exit 5, so systemd does not restart into the same refusal.
    public func run(onReady: @escaping @Sendable (Agent.Ready) async -> Void = { _ in }) async throws {
        guard configuration.runsEmbeddedControlPlane else {
            throw AgentError(
                .configuration,
                "ECS_BACKEND_HOST=\(configuration.backendHost ?? ""): the network channel to a remote control plane is not built yet; leave it unset to run the embedded control plane"
            )
        }
        let verifier = try ControlPlaneServices.checkedVerifier(configuration)
        let docker = DockerEngineClient(endpoint: DockerEndpoint(configuration.dockerHost), logger: logger)
        do {
            try await runServices(docker: docker, verifier: verifier, onReady: onReady)
        } catch {
            try? await docker.shutdown()
            throw error
        }
        try? await docker.shutdown()
    }

    /// `/metrics` on the introspection API, when a registry collects them.
    private func renderMetrics(_ introspection: AgentIntrospection) -> (@Sendable () async -> String)? {
        guard let registry = metrics else { return nil }
        let rendering = MetricsRendering(registry: registry)
        return { rendering.render(tasks: await introspection.tasks()) }
    }

    private func runServices(
        docker: DockerEngineClient,
        verifier: SigV4Verifier?,
        onReady: @escaping @Sendable (Agent.Ready) async -> Void
    ) async throws {
        let agentStore: any AgentStateStore =
            configuration.checkpoint
            ? try SQLiteAgentStore(directory: configuration.dataDirectory) : try SQLiteAgentStore()
        let supervision = SystemdSupervision(listeners: 2, logger: logger)
        let introspection = AgentIntrospection(cluster: configuration.cluster.value)
        let introspectionAddress = configuration.introspectionListen
        let introspectionAPI = Application(
            router: IntrospectionRouter.make(
                source: introspection,
                version: agentHash.map { "\(agentVersion) (\($0))" } ?? agentVersion,
                metrics: renderMetrics(introspection)
            ),
            configuration: ApplicationConfiguration(
                address: .hostname(introspectionAddress.host, port: introspectionAddress.port),
                serverName: nil
            ),
            onServerRunning: { _ in supervision.apiListening() },
            logger: logger
        )
        let controlPlane = try await ControlPlaneServices.make(
            configuration: configuration,
            verifier: verifier,
            logger: logger,
            onListening: { supervision.apiListening() }
        )
        try await controlPlane.createCluster(configuration.cluster.value)
        let metadataSource = AgentTaskMetadata(introspection: introspection, docker: docker)
        let metadataServer =
            configuration.taskMetadataPort == 0
            ? nil
            : TaskMetadataServer(
                port: Int(configuration.taskMetadataPort),
                source: metadataSource,
                limiter: RequestRateLimiter(
                    steady: configuration.taskMetadataRateLimit.steady,
                    burst: configuration.taskMetadataRateLimit.burst
                ),
                logger: logger
            )
        let agent = Agent(
            configuration: configuration,
            connection: InProcessAgentChannel(handler: controlPlane.controlPlane),
            docker: docker,
            store: agentStore,
            host: try HostFacts.current(),
            agentVersion: agentVersion,
            agentHash: agentHash,
            taskMetadata: metadataServer,
            logger: logger,
            onReady: { ready in
                introspection.agentReady(ready)
                let engine = ready.engine
                supervision.serving {
                    let records = await engine.taskRecords
                    let running = records.filter { $0.knownStatus == .running }.count
                    return
                        "\(running) task(s) running; registered as \(ready.instance.containerInstanceArn); embedded control plane"
                }
                await onReady(ready)
            }
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: controlPlane.services + [
                    .init(service: introspectionAPI), .init(service: agent),
                    .init(service: supervision, successTerminationBehavior: .ignore),
                ] + (metadataServer.map { [.init(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "berth agent starting",
            metadata: [
                "cluster": "\(configuration.cluster)", "api": "\(configuration.apiScheme)://\(configuration.apiListen)",
                "dataDirectory": "\(configuration.checkpoint ? configuration.dataDirectory : "(memory)")",
            ]
        )
        try await group.run()
    }
}

extension DockerEndpoint {
    /// The Engine API endpoint DOCKER_HOST names.
    public init(_ host: DockerHost) {
        switch host {
        case .unixSocket(let path): self = .unixSocket(path: path)
        case .tcp(let host, let port): self = .tcp(host: host, port: port)
        }
    }
}
