import BerthFleetSimulator
import BerthRemoteChannel
import Foundation
import Logging
import NIOSSL
import ServiceLifecycle
import SigV4
import UnixSignals

/// `berth-bench simulate-agents --endpoint URL --instances N --cluster NAME`: a simulated fleet (see
/// ``SimulatedFleet``) against any control plane, until SIGTERM or SIGINT, saying how it stands every
/// `--report-every` seconds. Calls are signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the flags),
/// as the agent signs them.
struct SimulateAgents {
    static let usage = """
        usage: berth-bench simulate-agents --endpoint URL --instances N --cluster NAME
                 [--cpu UNITS] [--memory MIB] [--name-prefix PREFIX] [--report-every SECONDS]
                 [--access-key-id ID --secret-access-key SECRET] [--region REGION] [--ca-file PEM]
        """

    struct Options {
        var endpoint: URL
        var instances: Int
        var cluster: String
        var cpu = 4096
        var memory = 16384
        var namePrefix = "sim"
        var reportEvery = 10
        var accessKeyID: String
        var secretAccessKey: String
        var region: String
        var caFile: String?
    }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ arguments: [String], environment: [String: String]) throws(UsageError) -> Options {
        var values: [String: String] = [:]
        var index = 0
        let known: Set<String> = [
            "--endpoint", "--instances", "--cluster", "--cpu", "--memory", "--name-prefix", "--report-every",
            "--access-key-id", "--secret-access-key", "--region", "--ca-file",
        ]
        while index < arguments.count {
            let flag = arguments[index]
            guard known.contains(flag) else { throw UsageError(description: "unknown argument '\(flag)'") }
            guard index + 1 < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            values[flag] = arguments[index + 1]
            index += 2
        }
        func required(_ flag: String) throws(UsageError) -> String {
            guard let value = values[flag], !value.isEmpty else { throw UsageError(description: "\(flag) is required") }
            return value
        }
        func positive(_ flag: String, default fallback: Int) throws(UsageError) -> Int {
            guard let text = values[flag] else { return fallback }
            guard let value = Int(text), value > 0 else {
                throw UsageError(description: "\(flag) must be a positive whole number, not '\(text)'")
            }
            return value
        }
        let endpointText = try required("--endpoint")
        guard let endpoint = URL(string: endpointText), ["http", "https"].contains(endpoint.scheme?.lowercased()),
            endpoint.host?.isEmpty == false
        else {
            throw UsageError(description: "--endpoint must be an http:// or https:// URL, not '\(endpointText)'")
        }
        let instances = try positive("--instances", default: 0)
        guard instances > 0 else { throw UsageError(description: "--instances is required") }
        return Options(
            endpoint: endpoint,
            instances: instances,
            cluster: try required("--cluster"),
            cpu: try positive("--cpu", default: 4096),
            memory: try positive("--memory", default: 16384),
            namePrefix: values["--name-prefix"] ?? "sim",
            reportEvery: try positive("--report-every", default: 10),
            // Unsigned control planes (no BERTH_API_CREDENTIALS_FILE) take any signature.
            accessKeyID: values["--access-key-id"] ?? environment["AWS_ACCESS_KEY_ID"] ?? "AKIDBERTHSIMULATOR",
            secretAccessKey: values["--secret-access-key"] ?? environment["AWS_SECRET_ACCESS_KEY"] ?? "simulator",
            region: values["--region"] ?? environment["AWS_DEFAULT_REGION"] ?? environment["AWS_REGION"] ?? "us-east-1",
            caFile: values["--ca-file"]
        )
    }

    static func run(_ arguments: [String]) async throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            return
        }
        let options: Options
        do {
            options = try parse(arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("berth-bench simulate-agents: \(error)\n\(usage)\n".utf8))
            exit(2)
        }
        BerthBench.raiseOpenFileLimit()
        var logger = Logger(label: "berth-bench.simulate-agents")
        logger.logLevel = .warning
        var tls: TLSConfiguration?
        if options.endpoint.scheme?.lowercased() == "https" {
            var client = TLSConfiguration.makeClientConfiguration()
            if let caFile = options.caFile {
                client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            tls = client
        }
        let signer = SigV4Signer(
            accessKeyID: options.accessKeyID,
            secretAccessKey: options.secretAccessKey,
            region: options.region
        )
        let api = SignedECSClient(
            baseURL: options.endpoint,
            signer: signer,
            tls: tls,
            connectionsPerHost: 64,
            logger: logger
        )
        let fleet = SimulatedFleet(
            settings: SimulatedFleet.Settings(
                cluster: options.cluster,
                instances: options.instances,
                cpu: options.cpu,
                memory: options.memory,
                namePrefix: options.namePrefix
            ),
            logger: logger
        ) { [tls, logger] in
            RemoteControlPlaneConnection(
                api: api,
                tls: tls,
                trustsPrivateCA: options.caFile != nil,
                identity: .init(agentVersion: "simulated"),
                logger: logger
            )
        }
        say(
            "simulating \(options.instances) instances of cluster \(options.cluster) against \(options.endpoint.absoluteString) until SIGTERM"
        )
        let reporter = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(options.reportEvery))
                say("simulated fleet: \(fleet.current)")
            }
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: fleet)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        reporter.cancel()
        say("simulated fleet stopped: \(fleet.current)")
        try await api.shutdown()
    }

    /// A line on standard output at once: its reports are read from pipes and files as they come.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
