import BerthAPI
public import BerthAgent
public import BerthConfig
public import BerthControlPlane
import BerthModel
import BerthStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOSSL
public import ServiceLifecycle
public import SigV4

/// The control plane with its ECS API, as `berth agent` embeds it and `berth control-plane` runs it alone:
/// the store under ECS_DATADIR, the API on BERTH_API_LISTEN (signed when BERTH_API_CREDENTIALS_FILE is
/// set), and the expiry of STOPPED tasks.
public struct ControlPlaneServices: Sendable {
    public let controlPlane: ControlPlane
    public let services: [ServiceGroupConfiguration.ServiceConfiguration]

    public static func make(
        configuration: BerthConfiguration,
        verifier: SigV4Verifier?,
        logger: Logger,
        metrics: (@Sendable () async -> String)? = nil,
        onListening: @escaping @Sendable () async -> Void = {}
    ) async throws(AgentError) -> ControlPlaneServices {
        let store: any ClusterStore
        var storeServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let url = configuration.databaseURL {
            do {
                let postgres = try await PostgresClusterStore.open(url, logger: logger)
                logger.info("Control plane state in PostgreSQL", metadata: ["database": "\(url)"])
                store = postgres
                // First in the group, so that a graceful shutdown ends it after everything that writes.
                storeServices.append(.init(service: PostgresStoreService(store: postgres)))
            } catch {
                throw AgentError(.store, "BERTH_DATABASE_URL: \(error)")
            }
        } else if configuration.checkpoint {
            do {
                store = try SQLiteClusterStore(directory: configuration.dataDirectory)
            } catch {
                throw AgentError(.store, "\(error)")
            }
        } else {
            store = InMemoryClusterStore()
        }
        let controlPlane: ControlPlane
        do {
            controlPlane = try await ControlPlane(
                store: store,
                settings: ControlPlane.Settings(
                    region: configuration.region.name,
                    account: configuration.accountID.digits,
                    stoppedTaskRetention: configuration.stoppedTaskRetention,
                    instanceLostAfter: configuration.instanceLostAfter,
                    // Replicas share a PostgreSQL store; SQLite and memory have one writer.
                    sharing: configuration.databaseURL == nil
                        ? nil : ControlPlane.Sharing(endpoint: configuration.advertiseURL)
                ),
                logger: logger
            )
        } catch {
            (store as? PostgresClusterStore)?.close()
            throw AgentError(.store, "control plane: \(error)")
        }
        let listen = configuration.apiListen
        var channelTiming = AgentChannelEndpoint.Timing()
        channelTiming.heartbeatInterval = configuration.channelHeartbeatInterval
        let channel = AgentChannelEndpoint(
            controlPlane: controlPlane,
            verifier: verifier,
            timing: channelTiming,
            logger: logger
        )
        let server: HTTPServerBuilder
        if let tls = try Self.tlsConfiguration(configuration) {
            do {
                server = try .tls(channel.serverBuilder(), tlsConfiguration: tls)
            } catch {
                throw AgentError(.configuration, "BERTH_TLS_CERTIFICATE: cannot serve TLS with it: \(error)")
            }
        } else {
            server = channel.serverBuilder()
        }
        let api = Application(
            router: ECSAPIRouter.make(
                controlPlane: controlPlane,
                endpoint: "\(configuration.apiScheme)://\(listen)",
                verifier: verifier,
                metrics: metrics,
                channel: channel
            ),
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(listen.host, port: listen.port),
                serverName: nil
            ),
            services: [channel.keeper],
            onServerRunning: { _ in await onListening() },
            logger: logger
        )
        return ControlPlaneServices(
            controlPlane: controlPlane,
            services: storeServices + [
                .init(service: api),
                .init(service: RecordExpiry(controlPlane: controlPlane, logger: logger)),
                .init(
                    service: LostInstanceReaper(
                        controlPlane: controlPlane,
                        interval: LostInstanceReaper.interval(lostAfter: configuration.instanceLostAfter),
                        logger: logger
                    )
                ),
                .init(service: ServiceSchedulerLoop(controlPlane: controlPlane)),
            ]
                + (configuration.databaseURL == nil
                    ? []
                    : [
                        .init(service: ChangeFeedFollower(controlPlane: controlPlane, store: store, logger: logger)),
                        .init(service: ReplicaDuties(controlPlane: controlPlane)),
                    ])
        )
    }

    /// Creates the cluster the configuration names when it does not exist.
    func createCluster(_ name: String) async throws(AgentError) {
        do {
            _ = try await controlPlane.createCluster(name: name)
        } catch {
            throw AgentError(.store, "cannot create cluster \(name): \(error)")
        }
    }

    /// The SigV4 verifier for the keys in BERTH_API_CREDENTIALS_FILE, or nil when none is configured.
    /// The verifier for BERTH_API_CREDENTIALS_FILE; refuses a non-loopback API without one.
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

    /// The TLS configuration of BERTH_TLS_CERTIFICATE and BERTH_TLS_KEY, checked now (the files read, the
    /// key matching the certificate) so that a bad pair is a clear configuration error at start; nil when
    /// they are not set. The key's content is never quoted.
    static func tlsConfiguration(_ configuration: BerthConfiguration) throws(AgentError) -> TLSConfiguration? {
        guard let certificatePath = configuration.tlsCertificateFile, let keyPath = configuration.tlsKeyFile else {
            return nil
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw AgentError(
                .configuration,
                "BERTH_TLS_CERTIFICATE=\(certificatePath): cannot read a PEM certificate chain from it: \(error)"
            )
        }
        guard !chain.isEmpty else {
            throw AgentError(.configuration, "BERTH_TLS_CERTIFICATE=\(certificatePath): no certificate in it")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw AgentError(.configuration, "BERTH_TLS_KEY=\(keyPath): cannot read a PEM private key from it")
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        tls.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: tls)
        } catch {
            throw AgentError(
                .configuration,
                "BERTH_TLS_KEY=\(keyPath): cannot be used with BERTH_TLS_CERTIFICATE=\(certificatePath) (is it its key?): \(error)"
            )
        }
        return tls
    }

    /// The verifier, or nil when no credentials are configured, in which case the API must stay on loopback.
    static func checkedVerifier(_ configuration: BerthConfiguration) throws(AgentError) -> SigV4Verifier? {
        let verifier = try verifier(configuration)
        guard configuration.apiListen.isLoopback || verifier != nil else {
            throw AgentError(
                .configuration,
                "BERTH_API_LISTEN=\(configuration.apiListen): without BERTH_API_CREDENTIALS_FILE the ECS API only listens on loopback"
            )
        }
        return verifier
    }

}

/// Every minute, forgets what has outlived its retention: STOPPED tasks, deleted clusters, instances and
/// services, old clientTokens.
struct RecordExpiry: Service {
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
                let expired = try await controlPlane.expireRetainedRecords()
                if expired.total > 0 {
                    logger.debug(
                        "records expired",
                        metadata: [
                            "stoppedTasks": "\(expired.stoppedTasks)", "clientTokens": "\(expired.clientTokens)",
                            "clusters": "\(expired.inactiveClusters)", "instances": "\(expired.inactiveInstances)",
                            "services": "\(expired.inactiveServices)",
                        ]
                    )
                }
            } catch {
                logger.warning("cannot expire records", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Looks for instances whose agent has been away longer than BERTH_INSTANCE_LOST_AFTER, and has their
/// service tasks replaced elsewhere (`ControlPlane.stopServiceTasksOfLostInstances`).
struct LostInstanceReaper: Service {
    let controlPlane: ControlPlane
    let interval: Duration
    let logger: Logger

    /// A tenth of the threshold, between 1 and 30 seconds: an instance is found lost soon after it is.
    static func interval(lostAfter: Duration) -> Duration {
        min(.seconds(30), max(.seconds(1), lostAfter / 10))
    }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    do {
                        try await controlPlane.stopServiceTasksOfLostInstances()
                    } catch {
                        logger.warning("cannot check for lost instances", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: each check is one transaction, done or not.
        }
    }
}

/// The service scheduler. A pass over a service comes as soon as something happens to it (a task of it
/// changed state, it was created or updated, its cluster's instances changed), and a pass over every
/// service at least once a `tick`, for what time alone changes (restart delays). Each pass decides from
/// stored state, so a restart resumes a deployment where it was.
struct ServiceSchedulerLoop: Service {
    let controlPlane: ControlPlane
    var tick: Duration = .seconds(1)

    func run() async {
        // A graceful shutdown cancels the wait between two passes; the loop then ends.
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var nextFullPass = clock.now
            while !Task.isCancelled {
                let full = clock.now >= nextFullPass
                await controlPlane.reconcileServices(dueOnly: !full)
                if full { nextFullPass = clock.now + tick }
                await controlPlane.serviceWork.wait(upTo: max(.zero, nextFullPass - clock.now))
            }
        }
    }
}

/// Keeps a replica up to date with what the others commit (``ControlPlane/followChanges()``): at once when
/// the store signals a commit (LISTEN/NOTIFY on PostgreSQL), and every `poll` in any case, since a
/// notification can be lost with its connection.
struct ChangeFeedFollower: Service {
    let controlPlane: ControlPlane
    let store: any ClusterStore
    var poll: Duration = .seconds(5)
    let logger: Logger

    func run() async {
        let wake = WakeSignal()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in store.changeSignals() { wake.signal() }
                }
                group.addTask {
                    var failing = false
                    while !Task.isCancelled {
                        do {
                            try await controlPlane.followChanges()
                            if failing { logger.info("following the change feed again") }
                            failing = false
                        } catch {
                            // Said once per outage, not at every attempt.
                            if !failing {
                                logger.warning("cannot follow the change feed", metadata: ["error": "\(error)"])
                            }
                            failing = true
                        }
                        await wake.wait(upTo: poll)
                    }
                }
                await group.waitForAll()
            }
        }
    }
}

/// A replica's heartbeat, its part in the singleton lease, and its record of the agents it holds
/// (``ControlPlane/maintainReplica()``), every second.
struct ReplicaDuties: Service {
    let controlPlane: ControlPlane
    var interval: Duration = .seconds(1)

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await controlPlane.maintainReplica()
                try? await Task.sleep(for: interval)
            }
        }
    }
}
