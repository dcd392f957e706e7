public import BerthConfig
import BerthControlPlane
public import Logging
public import Prometheus
import ServiceLifecycle
import UnixSignals

/// `berth control-plane`: the cluster manager and its ECS API with no agent of its own, for instances that
/// register through the API (or, later, agents on other hosts).
public struct ControlPlaneDaemon: Sendable {
    public let configuration: BerthConfiguration
    public let logger: Logger

    /// Where the API's metrics are collected, for `GET /metrics` on the API port; nil serves none.
    public let metrics: PrometheusCollectorRegistry?

    public init(configuration: BerthConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
    }

    /// `GET /metrics` on the API port, when a registry collects them.
    private func renderMetrics() -> (@Sendable () async -> String)? {
        guard let registry = metrics else { return nil }
        return { registry.emitToString() }
    }

    /// Runs until SIGTERM or SIGINT. Configuration refusals throw a terminal ``AgentError`` (exit 5).
    public func run() async throws {
        let verifier = try ControlPlaneServices.checkedVerifier(configuration)
        let supervision = SystemdSupervision(listeners: 1, logger: logger)
        let controlPlane = try await ControlPlaneServices.make(
            configuration: configuration,
            verifier: verifier,
            logger: logger,
            metrics: renderMetrics(),
            onListening: { supervision.apiListening() }
        )
        let plane = controlPlane.controlPlane
        supervision.serving { "control plane serving \(await plane.listClusters().count) cluster(s)" }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: controlPlane.services + [.init(service: supervision, successTerminationBehavior: .ignore)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "berth control plane starting",
            metadata: [
                "api": "\(configuration.apiScheme)://\(configuration.apiListen)",
                "dataDirectory": "\(configuration.checkpoint ? configuration.dataDirectory : "(memory)")",
            ]
        )
        try await group.run()
    }
}
