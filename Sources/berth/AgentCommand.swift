import ArgumentParser
import BerthAgent
import BerthConfig
import BerthDaemon
import Logging

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
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(ConfigurationSource(path: config))
        } catch {
            printToStandardError(error.description)
            throw ExitCode(ExitStatus.terminalConfiguration)
        }
        for warning in loaded.warnings { printToStandardError(warning.description) }
        let configuration = loaded.configuration
        let level = Logger.Level(configuration.logLevel)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "berth")
        do {
            try await AgentDaemon(configuration: configuration, agentVersion: BerthVersion.current, logger: logger)
                .run()
        } catch let error as AgentError where error.isTerminal {
            logger.critical("berth cannot run", metadata: ["error": "\(error)"])
            throw ExitCode(ExitStatus.terminalConfiguration)
        } catch {
            logger.error("berth stopped", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

enum BerthVersion {
    static let current = "0.1.0"
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
