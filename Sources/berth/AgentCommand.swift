import ArgumentParser
import BerthAgent
import BerthConfig
import BerthDaemon
import BerthSystemd
import Logging
import Metrics
import Prometheus

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the agent on this host; with no ECS_BACKEND_HOST, with the embedded control plane and ECS API.",
        discussion: """
            Reads the configuration file (default /etc/ecs/ecs.config) and the environment, registers this host \
            and runs the tasks it is given on dockerd. SIGTERM stops Berth and leaves task containers running; \
            they are adopted when it starts again. Exits 5 on a terminal configuration or registration error.
            """
    )

    @Option(name: .long, help: "The configuration file (default: /etc/ecs/ecs.config).")
    var config: String?

    func run() async throws {
        let configuration = try loadConfiguration(config).configuration
        let logger = bootstrapLogging(configuration)
        let metrics = bootstrapMetrics()
        try await runDaemon(logger: logger) {
            try await AgentDaemon(
                configuration: configuration,
                agentVersion: BuildInfo.version,
                agentHash: BuildInfo.commit,
                logger: logger,
                metrics: metrics
            ).run()
        }
    }
}

struct ControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Run the control plane and its ECS API alone, with no agent on this host.",
        discussion: """
            Uses the agent's configuration keys: AWS_DEFAULT_REGION, BERTH_ACCOUNT_ID, BERTH_API_LISTEN, \
            BERTH_API_CREDENTIALS_FILE, BERTH_STOPPED_TASK_RETENTION, ECS_DATADIR, ECS_CHECKPOINT, ECS_LOGLEVEL. \
            Instances register through the API. Exits 5 on a terminal configuration error.
            """
    )

    @Option(name: .long, help: "The configuration file (default: /etc/ecs/ecs.config).")
    var config: String?

    func run() async throws {
        let configuration = try loadConfiguration(config).configuration
        let logger = bootstrapLogging(configuration)
        let metrics = bootstrapMetrics()
        try await runDaemon(logger: logger) {
            try await ControlPlaneDaemon(configuration: configuration, logger: logger, metrics: metrics).run()
        }
    }
}

/// The configuration file and the environment, or exit 5 with the errors; warnings go to standard error.
func loadConfiguration(_ path: String?) throws -> LoadedConfiguration {
    let loaded: LoadedConfiguration
    do {
        loaded = try ConfigurationLoader.load(ConfigurationSource(path: path))
    } catch {
        printToStandardError(error.description)
        throw ExitCode(ExitStatus.terminalConfiguration)
    }
    for warning in loaded.warnings { printToStandardError(warning.description) }
    return loaded
}

/// Logging at ECS_LOGLEVEL: structured entries in the journal when systemd connected standard error to it
/// (JOURNAL_STREAM), readable lines on standard error otherwise.
func bootstrapLogging(_ configuration: BerthConfiguration) -> Logger {
    let level = Logger.Level(configuration.logLevel)
    if Journal.isStandardErrorConnected() {
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, logLevel: level) }
    } else {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
    return Logger(label: "berth")
}

/// swift-metrics into a Prometheus registry, which `/metrics` renders.
func bootstrapMetrics() -> PrometheusCollectorRegistry {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return registry
}

/// Runs a daemon, turning its failure into the exit status systemd acts on: 5 for terminal errors.
func runDaemon(logger: Logger, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as AgentError where error.isTerminal {
        logger.critical("berth cannot run", metadata: ["error": "\(error)"])
        throw ExitCode(ExitStatus.terminalConfiguration)
    } catch {
        logger.error("berth stopped", metadata: ["error": "\(error)"])
        throw ExitCode.failure
    }
}

extension Logger.Level {
    init(_ level: LogLevel) {
        switch level {
        case .debug: self = .debug
        case .info: self = .info
        case .warn: self = .warning
        case .error: self = .error
        case .crit: self = .critical
        }
    }
}
