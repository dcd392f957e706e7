public import BerthAgentChannel
public import BerthConfig
import BerthModel
public import DockerEngine
public import Logging
public import ServiceLifecycle
import Synchronization

/// `berth agent`: waits for dockerd, registers the host, takes back the last run's tasks, then runs what
/// the control plane sends, following Docker's events and reporting every change. A graceful shutdown
/// leaves the task containers running: the next start adopts them.
public final class Agent: Service {
    /// How often the agent does its periodic work.
    public struct Timing: Sendable {
        /// Between checks of every tracked container against Docker (catches missed events).
        public var reconcileInterval: Duration = .seconds(30)
        /// Between heartbeats to the control plane.
        public var heartbeatInterval: Duration = .seconds(30)
        /// Backoff for reconnecting to dockerd.
        public var reconnectBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(15))
        /// Backoff for reopening the payload channel (the ECS agent's: 250 ms to 2 min, ×1.5).
        public var channelBackoff = Backoff(initial: .milliseconds(250), maximum: .seconds(120), factor: 1.5)
        /// A channel open this long resets the backoff, and when it then closes cleanly (recycled, or
        /// replaced on purpose) it is opened again at once.
        public var channelSteadyAfter: Duration = .seconds(60)
        /// How long to wait before trying again once the control plane says the instance was deregistered
        /// (the ECS agent waits an hour too).
        public var inactiveInstanceRetry: Duration = .seconds(3600)

        public init() {}
    }

    /// What the agent knows once it is ready.
    public struct Ready: Sendable {
        public var instance: RegisteredInstance
        public var recovery: TaskEngine.RecoveryReport
        public var engine: TaskEngine
    }

    private let configuration: BerthConfiguration
    private let connection: any ControlPlaneConnection
    private let docker: any DockerClient
    private let store: any AgentStateStore
    private let registrar: InstanceRegistrar
    private let taskMetadata: (any TaskMetadataServing)?
    private let timing: Timing
    private let logger: Logger
    private let onReady: @Sendable (Ready) async -> Void
    private let reconciliation = Mutex(ManifestReconciliation())

    public init(
        configuration: BerthConfiguration,
        connection: any ControlPlaneConnection,
        docker: any DockerClient,
        store: any AgentStateStore,
        host: HostFacts,
        agentVersion: String,
        agentHash: String? = nil,
        taskMetadata: (any TaskMetadataServing)? = nil,
        timing: Timing = Timing(),
        logger: Logger,
        onReady: @escaping @Sendable (Ready) async -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.connection = connection
        self.docker = docker
        self.store = store
        self.registrar = InstanceRegistrar(
            configuration: configuration,
            host: host,
            agentVersion: agentVersion,
            agentHash: agentHash
        )
        self.taskMetadata = taskMetadata
        self.timing = timing
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.runUntilCancelled()
            }
        } catch  where Task.isShuttingDownGracefully {
            // Stopped before it was ready (waiting for dockerd, registering): a shutdown, not a failure.
            logger.info("Agent stopped while starting", metadata: ["error": "\(error)"])
        }
    }

    private func runUntilCancelled() async throws(AgentError) {
        await waitForDocker()
        try Task.checkCancellation(or: AgentError(.docker, "cancelled while waiting for dockerd"))
        try await registrar.claimState(store, logger: logger)
        let metadataEndpoint = try await serveTaskMetadata()
        let images = ImageManager(
            docker: docker,
            store: store,
            settings: ImageManager.Settings(configuration),
            logger: logger
        )
        try await images.load()
        let instance = try await registrar.register(through: connection, store: store, docker: docker, logger: logger)
        let engine = TaskEngine(
            environment: TaskEnvironment(
                docker: docker,
                store: store,
                images: images,
                reporter: ChannelReporter(connection: connection, instanceArn: instance.containerInstanceArn),
                specContext: ContainerSpec.Context(
                    cluster: configuration.cluster.value,
                    region: configuration.region.name,
                    metadataEndpoint: metadataEndpoint
                ),
                policy: TaskStateMachine.Policy(
                    containerStopTimeout: configuration.containerStopTimeout,
                    cleanupWait: configuration.taskCleanupWaitDuration
                ),
                logger: logger
            ),
            hostPolicy: TaskValidation.HostPolicy(
                privilegedDisabled: configuration.privilegedDisabled,
                availableLoggingDrivers: Set(configuration.availableLoggingDrivers)
            ),
            resources: HostResources(
                cpu: registrar.cpu,
                memory: registrar.memory,
                reservedPorts: configuration.reservedPorts,
                reservedPortsUDP: configuration.reservedPortsUDP,
                dynamicPortRange: configuration.dynamicHostPortRange,
                portIsFree: PortProbe.isFree
            )
        )
        // Events from before the recovery's look at Docker are replayed: nothing falls between the two.
        let eventsSince = DockerEventTime(secondsSinceEpoch: Int64(Timestamp.now().secondsSinceEpoch) - 1)
        let recovery = try await engine.recover(try await store.loadTasks())
        logger.info(
            "Agent ready",
            metadata: [
                "tasks": "\(recovery.tasks)", "adopted": "\(recovery.adoptedContainers)",
                "vanished": "\(recovery.vanishedContainers)", "removed": "\(recovery.removedContainers.count)",
            ]
        )
        await onReady(Ready(instance: instance, recovery: recovery, engine: engine))
        let arn = instance.containerInstanceArn
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.receivePayloads(engine: engine, instanceArn: arn) }
            group.addTask { await self.followEvents(engine: engine, since: eventsSince) }
            group.addTask { await self.reconcilePeriodically(engine: engine) }
            group.addTask { await self.sendHeartbeats(instanceArn: arn) }
            group.addTask { await self.cleanUpImages(images, engine: engine) }
        }
        await engine.shutDown()
        logger.info("Agent stopped; task containers keep running")
    }

    // MARK: Loops

    /// Has the task metadata endpoint served on the host's address on Docker's bridge, which bridge-mode
    /// and host-mode containers both reach. When that address cannot be learned, it is served on loopback
    /// for host-mode tasks only, and bridge-mode tasks are given no URL (one on loopback could never work
    /// from inside them). Returns where it is served, or nil when it is not.
    private func serveTaskMetadata() async throws(AgentError) -> ContainerSpec.MetadataEndpoint? {
        guard let taskMetadata else { return nil }
        let resolution: BridgeAddress.Resolution
        do {
            resolution = BridgeAddress.resolve(try await docker.inspectNetwork("bridge"))
        } catch {
            resolution = .unavailable(cause: "Docker's 'bridge' network cannot be inspected: \(error)")
        }
        let host: String
        switch resolution {
        case .address(let address, let source):
            host = address
            logger.debug("Bridge address found", metadata: ["address": "\(address)", "source": "\(source)"])
        case .unavailable(let cause):
            host = "127.0.0.1"
            logger.warning(
                "Task metadata is not offered to bridge-mode tasks: \(cause). Host-mode tasks reach it on loopback."
            )
        }
        do {
            try await taskMetadata.listen(on: host)
        } catch {
            throw AgentError(
                .host,
                "the task metadata endpoint cannot listen on \(host):\(taskMetadata.port): \(error)"
            )
        }
        let endpoint = ContainerSpec.MetadataEndpoint(
            url: "http://\(host):\(taskMetadata.port)",
            reachableFromBridge: resolution.address != nil
        )
        logger.info("Task metadata endpoint listening", metadata: ["endpoint": "\(endpoint.url)"])
        return endpoint
    }

    /// Blocks until dockerd answers, logging once while it does not.
    private func waitForDocker() async {
        var backoff = timing.reconnectBackoff
        var warned = false
        while !Task.isCancelled {
            do {
                try await docker.ping()
                if warned { logger.info("dockerd answers") }
                return
            } catch {
                if !warned {
                    logger.warning("Waiting for dockerd", metadata: ["error": "\(error)"])
                    warned = true
                }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Keeps the payload stream open: each payload's tasks are saved, then the payload is acknowledged. A
    /// payload that cannot be saved is not acknowledged, and the stream is reopened to get it again.
    private func receivePayloads(engine: TaskEngine, instanceArn: String) async {
        var reopening = ChannelReopening(timing: timing)
        while !Task.isCancelled {
            let opened = ContinuousClock.now
            let ending: ChannelReopening.Ending
            do {
                let stream = try await connection.connect(instanceArn: instanceArn)
                for try await message in stream {
                    switch message {
                    case .payload(let payload):
                        try await engine.accept(payload)
                        try await connection.acknowledge(messageID: payload.messageID, instanceArn: instanceArn)
                    case .taskManifest(let manifest):
                        try await reconcile(manifest, engine: engine, instanceArn: instanceArn)
                    case .stopsConfirmed(let manifestID, let taskArns):
                        let stops = reconciliation.withLock { $0.confirmed(manifestID: manifestID, taskArns: taskArns) }
                        await engine.stop(stops, reason: Self.unlistedReason)
                    }
                }
                ending = .closedOnPurpose
                if !Task.isCancelled { logger.info("The control plane closed the payload channel; reconnecting") }
            } catch let error as ControlPlaneError where error.code == .instanceInactive {
                ending = .instanceInactive
                if !Task.isCancelled {
                    logger.error(
                        "The control plane no longer knows this container instance (deregistered?); no task will come until it does",
                        metadata: ["error": "\(error)", "retry.in": "\(timing.inactiveInstanceRetry)"]
                    )
                }
            } catch {
                ending = .failed
                if !Task.isCancelled {
                    logger.warning("Payload channel failed; reconnecting", metadata: ["error": "\(error)"])
                }
            }
            if Task.isCancelled { return }
            let delay = reopening.delay(after: ending, openFor: ContinuousClock.now - opened)
            if delay > .zero { try? await Task.sleep(for: delay) }
        }
    }

    static let unlistedReason = "Task stopped by the agent: the control plane no longer places it on this instance"

    /// Takes a task manifest: stops what it wants STOPPED, and asks about what it lacks.
    private func reconcile(
        _ manifest: TaskManifest,
        engine: TaskEngine,
        instanceArn: String
    ) async throws(ControlPlaneError) {
        let local = await engine.taskRecords.map {
            ManifestReconciliation.LocalTask(taskArn: $0.arn, running: $0.desiredStatus == .running && !$0.isStopped)
        }
        guard let decision = reconciliation.withLock({ $0.take(manifest, local: local) }) else { return }
        await engine.stop(decision.stopNow, reason: "Task stopped: the control plane wants it STOPPED")
        if !decision.candidates.isEmpty {
            try await connection.verifyStops(
                manifestID: manifest.messageID,
                candidates: decision.candidates,
                instanceArn: instanceArn
            )
        }
    }

    /// Routes Docker's container events to the tasks. When the stream breaks (dockerd restarted), waits for
    /// dockerd, reopens it from the last event seen and checks every container for what was missed.
    private func followEvents(engine: TaskEngine, since start: DockerEventTime) async {
        var since = start
        var backoff = timing.reconnectBackoff
        var filters = ContainerSpec.clusterFilter(configuration.cluster.value)
        filters["type"] = ["container"]
        while !Task.isCancelled {
            do {
                for try await event in docker.containerEvents(since: since, filters: filters) {
                    since = event.time
                    backoff.reset()
                    await engine.handle(event)
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("Docker event stream broke; reconnecting", metadata: ["error": "\(error)"])
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: backoff.next())
            await waitForDocker()
            await engine.reconcile()
        }
    }

    private func reconcilePeriodically(engine: TaskEngine) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: timing.reconcileInterval)
            } catch {
                return
            }
            await engine.reconcile()
        }
    }

    private func sendHeartbeats(instanceArn: String) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: timing.heartbeatInterval)
            } catch {
                return
            }
            do {
                try await connection.heartbeat(instanceArn: instanceArn)
            } catch {
                logger.warning("Heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func cleanUpImages(_ images: ImageManager, engine: TaskEngine) async {
        let settings = images.settings
        guard settings.cleanupEnabled else { return }
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: settings.cleanupInterval)
            } catch {
                return
            }
            let removed = await images.cleanUp(referenced: await engine.referencedImages)
            if !removed.isEmpty { logger.info("Removed unused images", metadata: ["images": "\(removed)"]) }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// Throws `error` when the current task is cancelled.
    static func checkCancellation(or error: AgentError) throws(AgentError) {
        if Task.isCancelled { throw error }
    }
}
