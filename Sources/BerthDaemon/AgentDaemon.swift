import BerthAPI
public import BerthAgent
import BerthAgentChannel
public import BerthConfig
import BerthControlPlane
import BerthModel
import BerthStore
public import DockerEngine
import Foundation
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import SigV4
import UnixSignals

/// The composition root of `berth agent`: from a configuration, the agent on this host and, when no
/// ECS_BACKEND_HOST is set, the embedded control plane with its ECS API, all in one ServiceGroup.
public struct AgentDaemon: Sendable {
    public let configuration: BerthConfiguration
    public let agentVersion: String
    public let logger: Logger

    public init(configuration: BerthConfiguration, agentVersion: String, logger: Logger) {
        self.configuration = configuration
        self.agentVersion = agentVersion
        self.logger = logger
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
        let verifier = try Self.verifier(configuration)
        guard configuration.apiListen.isLoopback || verifier != nil else {
            throw AgentError(
                .configuration,
                "BERTH_API_LISTEN=\(configuration.apiListen): without BERTH_API_CREDENTIALS_FILE the ECS API only listens on loopback"
            )
        }
        let docker = DockerEngineClient(endpoint: DockerEndpoint(configuration.dockerHost), logger: logger)
        do {
            try await runServices(docker: docker, verifier: verifier, onReady: onReady)
        } catch {
            try? await docker.shutdown()
            throw error
        }
        try? await docker.shutdown()
    }

    /// The SigV4 verifier for the keys in BERTH_API_CREDENTIALS_FILE, or nil when none is configured.
    static func verifier(_ configuration: BerthConfiguration) throws(AgentError) -> SigV4Verifier? {
        guard let path = configuration.apiCredentialsFile else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AgentError(
                .configuration,
                "BERTH_API_CREDENTIALS_FILE=\(path): cannot read it: \(error.localizedDescription)"
            )
        }
        let secrets = CredentialsFile.parse(text)
        guard !secrets.isEmpty else {
            throw AgentError(
                .configuration,
                "BERTH_API_CREDENTIALS_FILE=\(path): no aws_access_key_id with its aws_secret_access_key in it"
            )
        }
        return SigV4Verifier(secrets: secrets)
    }

    private func runServices(
        docker: DockerEngineClient,
        verifier: SigV4Verifier?,
        onReady: @escaping @Sendable (Agent.Ready) async -> Void
    ) async throws {
        let agentStore: any AgentStateStore =
            configuration.checkpoint
            ? try SQLiteAgentStore(directory: configuration.dataDirectory) : try SQLiteAgentStore()
        let clusterStore: any ClusterStore
        if configuration.checkpoint {
            do {
                clusterStore = try SQLiteClusterStore(directory: configuration.dataDirectory)
            } catch {
                throw AgentError(.store, "\(error)")
            }
        } else {
            clusterStore = InMemoryClusterStore()
        }
        let controlPlane: ControlPlane
        do {
            controlPlane = try await ControlPlane(
                store: clusterStore,
                settings: ControlPlane.Settings(
                    region: configuration.region.name,
                    account: configuration.accountID.digits,
                    stoppedTaskRetention: configuration.stoppedTaskRetention
                ),
                logger: logger
            )
            _ = try await controlPlane.createCluster(name: configuration.cluster.value)
        } catch {
            throw AgentError(.store, "embedded control plane: \(error)")
        }
        let listen = configuration.apiListen
        let api = Application(
            router: ECSAPIRouter.make(controlPlane: controlPlane, endpoint: "http://\(listen)", verifier: verifier),
            configuration: ApplicationConfiguration(
                address: .hostname(listen.host, port: listen.port),
                serverName: nil
            ),
            logger: logger
        )
        let agent = Agent(
            configuration: configuration,
            connection: InProcessAgentChannel(handler: controlPlane),
            docker: docker,
            store: agentStore,
            host: try HostFacts.current(),
            agentVersion: agentVersion,
            logger: logger,
            onReady: onReady
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: api),
                    .init(service: StoppedTaskExpiry(controlPlane: controlPlane, logger: logger)),
                    .init(service: agent),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "berth agent starting",
            metadata: [
                "cluster": "\(configuration.cluster)", "api": "http://\(listen)",
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

/// Forgets STOPPED tasks once their retention has passed, every minute.
struct StoppedTaskExpiry: Service {
    let controlPlane: ControlPlane
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await expireEveryMinute() }
        } catch is CancellationError {
            // Graceful shutdown: nothing is left half-done between two expiries.
        }
    }

    private func expireEveryMinute() async throws {
        while true {
            try await Task.sleep(for: .seconds(60))
            do {
                let expired = try await controlPlane.expireStoppedTasks()
                if expired > 0 { logger.debug("stopped tasks expired", metadata: ["count": "\(expired)"]) }
            } catch {
                logger.warning("cannot expire stopped tasks", metadata: ["error": "\(error)"])
            }
        }
    }
}
