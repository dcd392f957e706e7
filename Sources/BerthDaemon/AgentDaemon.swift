import BerthAPI
public import BerthAgent
import BerthAgentChannel
public import BerthConfig
import BerthModel
import BerthRemoteChannel
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
        let verifier =
            configuration.runsEmbeddedControlPlane ? try ControlPlaneServices.checkedVerifier(configuration) : nil
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
        let embedded = configuration.runsEmbeddedControlPlane
        // The introspection API, and the ECS API when the control plane is embedded.
        let supervision = SystemdSupervision(listeners: embedded ? 2 : 1, logger: logger)
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
        // Read before the remote channel's client exists: nothing may throw between its creation and the
        // shutdown at the end.
        let host = try HostFacts.current()
        let connection: any ControlPlaneConnection
        var controlPlaneServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var remoteAPI: SignedECSClient?
        let mode: String
        if embedded {
            let controlPlane = try await ControlPlaneServices.make(
                configuration: configuration,
                verifier: verifier,
                logger: logger,
                onListening: { supervision.apiListening() }
            )
            try await controlPlane.createCluster(configuration.cluster.value)
            connection = InProcessAgentChannel(handler: controlPlane.controlPlane)
            controlPlaneServices = controlPlane.services
            mode = "embedded control plane"
        } else {
            let remote = try await RemoteChannelSetup.make(
                configuration,
                docker: docker,
                agentVersion: agentVersion,
                agentHash: agentHash,
                logger: logger
            )
            connection = remote.connection
            remoteAPI = remote.api
            mode = "control plane at \(remote.api.baseURL.absoluteString)"
        }
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
            connection: connection,
            docker: docker,
            store: agentStore,
            host: host,
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
                        "\(running) task(s) running; registered as \(ready.instance.containerInstanceArn); \(mode)"
                }
                await onReady(ready)
            }
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: controlPlaneServices + [
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
                "cluster": "\(configuration.cluster)",
                "controlPlane":
                    "\(embedded ? "embedded, API on \(configuration.apiScheme)://\(configuration.apiListen)" : mode)",
                "dataDirectory": "\(configuration.checkpoint ? configuration.dataDirectory : "(memory)")",
            ]
        )
        do {
            try await group.run()
        } catch {
            try? await remoteAPI?.shutdown()
            throw error
        }
        try? await remoteAPI?.shutdown()
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
