import ArgumentParser
import BerthConfig
import BerthDaemon
import DockerEngine
import Foundation
import Logging

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Print the effective configuration, or the errors that keep Berth from starting.",
        discussion: """
            Reads the configuration file (default /etc/ecs/ecs.config) and the environment, which overrides \
            the file, exactly as the agent does. Warnings go to standard error; the effective configuration, \
            with secrets redacted, to standard output. Exits 5 when the configuration would be refused.
            """
    )

    @Option(name: .long, help: "The configuration file (default: /etc/ecs/ecs.config).")
    var config: String?

    @Flag(name: .long, help: "Also check that dockerd answers at DOCKER_HOST and speaks a usable API version.")
    var docker = false

    func run() async throws {
        let loaded = try loadConfiguration(config)
        print(ConfigurationReport.render(loaded), terminator: "")

        if docker {
            try await checkDocker(loaded.configuration)
        }
    }

    private func checkDocker(_ configuration: BerthConfiguration) async throws {
        let endpoint = DockerEndpoint(configuration.dockerHost)
        let logger = Logger(label: "berth.check-config", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let (version, api) = try await DockerEngineClient.withClient(endpoint: endpoint, logger: logger) { client in
                (try await client.version(), try await client.apiVersion())
            }
            print("# dockerd \(version.version) at \(endpoint) answers; using Engine API \(api)")
        } catch {
            printToStandardError("error: DOCKER_HOST=\(configuration.dockerHost): \(error)")
            throw ExitCode(ExitStatus.dockerUnavailable)
        }
    }
}

func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
