public import BerthAgentChannel
public import BerthModel
public import DockerEngine
public import Logging
import Metrics
import Synchronization

/// What a task's actor works with.
public struct TaskEnvironment: Sendable {
    public var docker: any DockerClient
    public var store: any AgentStateStore
    public var images: ImageManager
    public var reporter: any StateChangeSink
    public var specContext: ContainerSpec.Context
    public var policy: TaskStateMachine.Policy
    public var reportBackoff: Backoff
    public var logger: Logger
    public var now: @Sendable () -> Timestamp
    public var makeSuffix: @Sendable () -> String

    public init(
        docker: any DockerClient,
        store: any AgentStateStore,
        images: ImageManager,
        reporter: any StateChangeSink,
        specContext: ContainerSpec.Context,
        policy: TaskStateMachine.Policy,
        reportBackoff: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), factor: 1.3),
        logger: Logger,
        now: @escaping @Sendable () -> Timestamp = Timestamp.now,
        makeSuffix: @escaping @Sendable () -> String = DockerNames.randomSuffix
    ) {
        self.docker = docker
        self.store = store
        self.images = images
        self.reporter = reporter
        self.specContext = specContext
        self.policy = policy
        self.reportBackoff = reportBackoff
        self.logger = logger
        self.now = now
        self.makeSuffix = makeSuffix
    }
}

/// Where state changes go: the control plane, through the agent channel.
public protocol StateChangeSink: Sendable {
    func submit(_ change: TaskStateChange) async throws(ControlPlaneError)
}

/// Told by a task's actor about its progress.
protocol ManagedTaskOwner: AnyObject, Sendable {
    func taskChanged(_ record: TaskRecord) async
    func taskEnded(_ arn: String) async
}

/// One task's actor: it owns the task's state machine, applies events one at a time, saves the record
/// after each change and before the Docker calls the change asks for, makes those calls, and reports the
/// task's state changes in order until they are acknowledged.
actor ManagedTask {
    nonisolated let arn: String
    private var machine: TaskStateMachine
    private let environment: TaskEnvironment
    private weak var owner: (any ManagedTaskOwner)?
    private let logger: Logger
    private let inbox: AsyncStream<Envelope>
    private let inboxContinuation: AsyncStream<Envelope>.Continuation
    private let outboxSignal: AsyncStream<Void>
    private let outboxContinuation: AsyncStream<Void>.Continuation
    private var savedRecord: TaskRecord?
    private var deadline: (at: Timestamp, task: Task<Void, Never>)?
    private var calls: [Task<Void, Never>] = []

    init(machine: TaskStateMachine, saved: Bool, environment: TaskEnvironment, owner: any ManagedTaskOwner) {
        self.arn = machine.record.arn
        self.machine = machine
        self.environment = environment
        self.owner = owner
        self.savedRecord = saved ? machine.record : nil
        var logger = environment.logger
        logger[metadataKey: "task.arn"] = "\(machine.record.arn)"
        self.logger = logger
        (inbox, inboxContinuation) = AsyncStream.makeStream(of: Envelope.self)
        (outboxSignal, outboxContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// An event, and who waits for it to be applied and saved.
    private struct Envelope: Sendable {
        var event: TaskEvent
        var applied: (@Sendable () -> Void)?
    }

    /// Queues an event; events are applied in the order they are sent.
    nonisolated func send(_ event: TaskEvent) {
        inboxContinuation.yield(Envelope(event: event, applied: nil))
    }

    /// Queues an event and returns once it is applied and the record saved (or the task has ended).
    nonisolated func apply(_ event: TaskEvent) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = ResumeOnce(continuation)
            let result = inboxContinuation.yield(Envelope(event: event, applied: { once.resume() }))
            if case .terminated = result { once.resume() }
        }
    }

    var record: TaskRecord { machine.record }

    /// Applies events until the task is cleaned up (or the agent shuts down), while reporting its changes.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reportChanges() }
            await self.applyEvents()
            group.cancelAll()
        }
        deadline?.task.cancel()
        for call in calls { call.cancel() }
    }

    /// Ends the loops without touching the task (the agent is shutting down).
    nonisolated func shutDown() {
        inboxContinuation.finish()
        outboxContinuation.finish()
    }

    private func applyEvents() async {
        await step(nil)
        var ended = false
        for await envelope in inbox {
            // Once the task is gone, what is still queued is answered without being applied.
            if !ended {
                await step(envelope.event)
                if machine.record.cleanedUp {
                    ended = true
                    inboxContinuation.finish()
                    await forget()
                }
            }
            envelope.applied?()
        }
    }

    private func step(_ event: TaskEvent?) async {
        let now = environment.now()
        if let event { machine.apply(event, at: now) }
        let actions = machine.nextActions(at: now)
        await save()
        await owner?.taskChanged(machine.record)
        for action in actions { perform(action) }
        if !machine.record.outbox.isEmpty { outboxContinuation.yield() }
        scheduleDeadline(after: now)
    }

    /// Saves the record if it changed. A failing store blocks the task: no Docker call is made for a change
    /// that is not saved.
    private func save() async {
        guard machine.record != savedRecord else { return }
        machine.setRevision((savedRecord?.revision ?? machine.record.revision) + 1)
        let record = machine.record
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        while true {
            do {
                try await environment.store.save(record)
                break
            } catch {
                logger.error("Cannot save the task; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
                if Task.isCancelled { return }
            }
        }
        savedRecord = record
    }

    private func forget() async {
        do {
            try await environment.store.deleteTask(arn: arn)
        } catch {
            logger.error("Cannot delete the cleaned-up task's record", metadata: ["error": "\(error)"])
        }
        logger.info("Task cleaned up")
        await owner?.taskEnded(arn)
    }

    private func scheduleDeadline(after now: Timestamp) {
        guard let next = machine.nextDeadline(at: now) else {
            deadline?.task.cancel()
            deadline = nil
            return
        }
        if let current = deadline, current.at == next { return }
        deadline?.task.cancel()
        let delay = next.duration(since: now)
        let task = Task { [weak self] in
            try? await Task.sleep(for: max(delay, .milliseconds(1)))
            guard !Task.isCancelled else { return }
            self?.send(.tick)
        }
        deadline = (next, task)
    }

    // MARK: Docker calls

    private func perform(_ action: TaskAction) {
        let record = machine.record
        let environment = self.environment
        let logger = self.logger
        calls.removeAll { $0.isCancelled }
        let call = Task { [weak self] in
            let events = await Self.carryOut(action, record: record, environment: environment, logger: logger)
            for event in events { self?.send(event) }
        }
        calls.append(call)
    }

    private static func carryOut(
        _ action: TaskAction,
        record: TaskRecord,
        environment: TaskEnvironment,
        logger: Logger
    ) async -> [TaskEvent] {
        let docker = environment.docker
        let networkMode = record.payload.networkMode ?? .bridge
        switch action {
        case .createVolume(let volume):
            return [await createVolume(volume, record: record, environment: environment)]

        case .pull(let name, let image):
            switch await environment.images.ensure(image) {
            case .ready(let digest, let imageID):
                return [.pulled(container: name, digest: digest, imageID: imageID)]
            case .failed(let reason, let stopsTask):
                logger.warning("Pull failed", metadata: ["container": "\(name)", "reason": "\(reason)"])
                return [.pullFailed(container: name, reason: reason, stopsTask: stopsTask)]
            }

        case .create(let name):
            guard let dockerName = record.container(named: name)?.dockerName else {
                return [.createFailed(container: name, reason: "CannotCreateContainerError: no name was chosen")]
            }
            let request: ContainerCreateRequest
            do {
                request = try ContainerSpec.createRequest(for: name, of: record, context: environment.specContext)
            } catch {
                return [.createFailed(container: name, reason: "CannotCreateContainerError: \(error.message)")]
            }
            return await create(name, dockerName: dockerName, request, record: record, docker: docker, logger: logger)

        case .start(let name, let dockerID):
            do {
                try await docker.startContainer(dockerID)
            } catch {
                if error.code == .timeout {
                    // It may be running after all: stop it rather than leave it unaccounted for.
                    _ = try? await docker.stopContainer(dockerID, gracePeriod: environment.policy.containerStopTimeout)
                }
                return [.startFailed(container: name, reason: "CannotStartContainerError: \(error.message)")]
            }
            do {
                let inspect = try await docker.inspectContainer(dockerID)
                var observation = ContainerSpec.observation(
                    of: inspect,
                    definition: record.definition(of: name),
                    networkMode: networkMode
                )
                if ContainerSpec.awaitsOutOfMemoryEvent(observation, desiredStatus: .running) {
                    // It ran, and was killed at once: its exit is the engine's to hand on, once Docker's
                    // `oom` event says whether it was out of memory (or the wait for it ends).
                    observation = .running(
                        dockerID: dockerID,
                        bindings: [],
                        health: nil,
                        startedAt: Timestamp(rfc3339: inspect.state.startedAt)
                    )
                }
                logger.info("Started container", metadata: ["container": "\(name)", "docker.id": "\(dockerID)"])
                return [.started(container: name, observation)]
            } catch  where error.code == .notFound {
                return [.started(container: name, .missing)]
            } catch {
                // Started, but unseen: take it as running; the next check corrects it.
                return [
                    .started(container: name, .running(dockerID: dockerID, bindings: [], health: nil, startedAt: nil))
                ]
            }

        case .stop(let name, let dockerID, let timeout):
            do {
                try await docker.stopContainer(dockerID, gracePeriod: timeout)
                let inspect = try await docker.inspectContainer(dockerID)
                let observation = ContainerSpec.observation(
                    of: inspect,
                    definition: record.definition(of: name),
                    networkMode: networkMode
                )
                if case .running = observation {
                    return [.stopFailed(container: name, reason: "it is still running after the stop")]
                }
                return [.stopped(container: name, observation)]
            } catch  where error.code == .notFound {
                return [.stopped(container: name, .missing)]
            } catch {
                logger.warning("Stop failed; will retry", metadata: ["container": "\(name)", "error": "\(error)"])
                return [.stopFailed(container: name, reason: error.message)]
            }

        case .cleanUp:
            return [await cleanUp(record, docker: docker, logger: logger)]
        }
    }

    /// Docker reserves a container's name before it registers the container: while a create made before a
    /// crash (or one that timed out) is still in flight, the name is taken but no container answers to it.
    /// Until `createSettleWait` has passed, the name is looked at again and the create tried again.
    static let createSettleWait: Duration = .seconds(10)

    private static func create(
        _ name: String,
        dockerName: String,
        _ request: ContainerCreateRequest,
        record: TaskRecord,
        docker: any DockerClient,
        logger: Logger
    ) async -> [TaskEvent] {
        let deadline = ContinuousClock.now.advanced(by: createSettleWait)
        while true {
            let failure: DockerError
            do {
                let created = try await docker.createContainer(name: dockerName, request)
                logger.debug("Created container", metadata: ["container": "\(name)", "docker.id": "\(created.id)"])
                return [.created(container: name, dockerID: created.id)]
            } catch {
                failure = error
            }
            guard failure.code == .conflict || failure.code == .timeout else {
                return [.createFailed(container: name, reason: "CannotCreateContainerError: \(failure.message)")]
            }
            // The name is ours alone: a container under it is one this task created before (the agent
            // crashed, or the call timed out after dockerd made it). Adopt it rather than make another.
            let existing: ContainerInspect
            do {
                existing = try await docker.inspectContainer(dockerName)
            } catch  where error.code == .notFound && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            } catch {
                return [.createFailed(container: name, reason: "CannotCreateContainerError: \(failure.message)")]
            }
            guard existing.configuration?.labels?[ContainerSpec.Label.taskArn] == record.arn else {
                return [.createFailed(container: name, reason: "CannotCreateContainerError: \(failure.message)")]
            }
            logger.info(
                "Adopted existing container",
                metadata: ["container": "\(name)", "docker.id": "\(existing.id)"]
            )
            return [
                .created(container: name, dockerID: existing.id),
                .observed(
                    container: name,
                    ContainerSpec.observation(
                        of: existing,
                        definition: record.definition(of: name),
                        networkMode: record.payload.networkMode ?? .bridge
                    )
                ),
            ]
        }
    }

    private static func createVolume(
        _ volume: DockerVolumeRecord,
        record: TaskRecord,
        environment: TaskEnvironment
    ) async -> TaskEvent {
        let docker = environment.docker
        do {
            if !volume.taskScoped {
                do {
                    _ = try await docker.inspectVolume(volume.dockerName)
                    return .volumeReady(taskVolume: volume.taskVolume)
                } catch  where error.code == .notFound {
                    guard volume.autoprovision else {
                        return .volumeFailed(
                            taskVolume: volume.taskVolume,
                            reason: "CannotCreateContainerError: shared volume '\(volume.dockerName)' does not "
                                + "exist and autoprovision is off"
                        )
                    }
                }
            }
            var labels = volume.labels ?? [:]
            if volume.taskScoped { labels[ContainerSpec.Label.taskArn] = record.arn }
            labels[ContainerSpec.Label.cluster] = environment.specContext.cluster
            _ = try await docker.createVolume(
                VolumeCreateRequest(
                    name: volume.dockerName,
                    driver: volume.driver,
                    driverOptions: volume.driverOpts,
                    labels: labels
                )
            )
            return .volumeReady(taskVolume: volume.taskVolume)
        } catch {
            return .volumeFailed(
                taskVolume: volume.taskVolume,
                reason: "CannotCreateContainerError: volume '\(volume.dockerName)': \(error.message)"
            )
        }
    }

    private static func cleanUp(_ record: TaskRecord, docker: any DockerClient, logger: Logger) async -> TaskEvent {
        for container in record.containers {
            // By ID when known; by the saved name otherwise, in case a create happened unseen.
            guard let reference = container.dockerID ?? container.dockerName else { continue }
            do {
                try await docker.removeContainer(reference, removeVolumes: true, force: true)
            } catch  where error.code == .notFound {
            } catch {
                return .cleanupFailed(reason: "remove container \(reference): \(error.message)")
            }
        }
        for volume in record.dockerVolumes where volume.taskScoped {
            do {
                try await docker.removeVolume(volume.dockerName, force: false)
            } catch  where error.code == .notFound {
            } catch {
                return .cleanupFailed(reason: "remove volume \(volume.dockerName): \(error.message)")
            }
        }
        logger.debug("Removed the task's containers and volumes")
        return .cleanedUp
    }

    // MARK: Reporting

    /// Sends the outbox in order, one change at a time, each until the control plane takes it: transient
    /// failures are retried with backoff, forever; a change the control plane refuses is dropped (and logged).
    private func reportChanges() async {
        var backoff = environment.reportBackoff
        var lastSent = 0
        for await _ in outboxSignal {
            while let change = machine.record.outbox.first(where: { $0.sequence > lastSent }) {
                if Task.isCancelled { return }
                do {
                    try await environment.reporter.submit(change)
                    // From the change on the host to the control plane's acknowledgement, retries included.
                    let latency = max(0, environment.now().secondsSinceEpoch - change.at.secondsSinceEpoch)
                    Timer(
                        label: "berth_state_change_report_duration_seconds",
                        dimensions: [("status", change.status.rawValue)]
                    ).recordNanoseconds(Int64(latency * 1_000_000_000))
                    lastSent = change.sequence
                    backoff.reset()
                    send(.acknowledged(sequence: change.sequence))
                    logger.debug("Reported state change", metadata: ["change": "\(change)"])
                } catch  where error.isTransient {
                    logger.warning(
                        "Cannot report a state change; retrying",
                        metadata: ["sequence": "\(change.sequence)", "error": "\(error)"]
                    )
                    try? await Task.sleep(for: backoff.next())
                } catch {
                    logger.error(
                        "The control plane refused a state change; dropping it",
                        metadata: ["change": "\(change)", "error": "\(error)"]
                    )
                    lastSent = change.sequence
                    send(.acknowledged(sequence: change.sequence))
                }
            }
        }
    }
}

/// Resumes a continuation at most once, whoever calls first.
final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume() {
        continuation.withLock { pending in
            pending?.resume()
            pending = nil
        }
    }
}
