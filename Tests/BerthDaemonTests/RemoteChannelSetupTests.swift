import BerthAgent
import BerthConfig
import BerthModel
import BerthRemoteChannel
import DockerEngine
import Logging
import Testing

@testable import BerthDaemon

@Suite("A remote agent's channel, from the configuration")
struct RemoteChannelSetupTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func configuration(backend: String, caFile: String? = nil) throws -> BerthConfiguration {
        var configuration = BerthConfiguration(
            region: try AWSRegion("us-east-1"),
            dynamicHostPortRange: try PortRange(start: 49153, end: 60999)
        )
        configuration.backendHost = backend
        configuration.backendAccessKeyID = "AKIDEXAMPLEAGENT01"
        configuration.backendSecretAccessKey = "secret-of-the-agent-01"
        configuration.backendCAFile = caFile
        return configuration
    }

    static func refusal(_ configuration: BerthConfiguration) async throws -> AgentError? {
        try await DockerEngineClient.withClient(endpoint: .unixSocket(path: "/nonexistent.sock"), logger: logger) {
            docker -> AgentError? in
            do {
                let setup = try await RemoteChannelSetup.make(
                    configuration,
                    docker: docker,
                    agentVersion: "test",
                    agentHash: nil,
                    logger: logger
                )
                try await setup.api.shutdown()
                return nil
            } catch let error as AgentError {
                return error
            }
        }
    }

    @Test("https to an IP address needs BERTH_BACKEND_CA_FILE; a DNS name or plain http does not")
    func addressOverTLS() async throws {
        let refused = try await Self.refusal(try Self.configuration(backend: "https://10.0.0.5:51680"))
        #expect(refused?.code == .configuration)
        #expect(refused?.message.contains("BERTH_BACKEND_CA_FILE") == true, "\(String(describing: refused))")
        #expect(try await Self.refusal(try Self.configuration(backend: "https://cp.example:51680")) == nil)
        #expect(try await Self.refusal(try Self.configuration(backend: "http://127.0.0.1:51680")) == nil)
    }

    @Test("a CA file that is not PEM certificates is a configuration error that names it")
    func badCAFile() async throws {
        let refused = try await Self.refusal(
            try Self.configuration(backend: "https://10.0.0.5:51680", caFile: "/etc/hostname")
        )
        #expect(refused?.code == .configuration)
        #expect(
            refused?.message.contains("BERTH_BACKEND_CA_FILE=/etc/hostname") == true,
            "\(String(describing: refused))"
        )
    }
}
