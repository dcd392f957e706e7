import BerthAgentChannel
public import BerthModel
import Foundation
public import Logging

/// The cluster manager: clusters, container instances, task definitions and tasks, the RunTask / StartTask
/// scheduler, and the control plane's side of every agent's channel.
///
/// State is read from memory and written through the ``ClusterStore`` before any answer: every operation
/// computes its writes from a snapshot and commits them with version checks. When another writer got there
/// first (a second replica on shared storage, or an interleaved call of this one), the records involved are
/// reloaded and the operation decides again, so resources are never reserved twice.
public actor ControlPlane {
    public struct Settings: Sendable {
        public var region: String
        public var account: String
        /// How long STOPPED tasks, and deleted clusters, instances and services, stay describable.
        public var stoppedTaskRetention: Duration
        /// How long a RunTask clientToken keeps answering with the tasks it placed.
        public var clientTokenRetention: Duration
        /// How long an instance's agent may be away before the instance counts as lost and its service tasks
        /// are replaced elsewhere (BERTH_INSTANCE_LOST_AFTER).
        public var instanceLostAfter: Duration
        /// Set when replicas share the store (PostgreSQL); nil for a control plane alone with its store.
        public var sharing: Sharing?
        public var now: @Sendable () -> Timestamp

        public init(
            region: String,
            account: String,
            stoppedTaskRetention: Duration = .seconds(3600),
            clientTokenRetention: Duration = .seconds(12 * 3600),
            instanceLostAfter: Duration = .seconds(600),
            sharing: Sharing? = nil,
            now: @escaping @Sendable () -> Timestamp = Settings.wallClock
        ) {
            self.region = region
            self.account = account
            self.stoppedTaskRetention = stoppedTaskRetention
            self.clientTokenRetention = clientTokenRetention
            self.instanceLostAfter = instanceLostAfter
            self.sharing = sharing
            self.now = now
        }

        public static let wallClock: @Sendable () -> Timestamp = {
            Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        }
    }

    /// A replica's identity among those sharing the store, and the clocks of its heartbeat and of the
    /// singleton lease (see ``maintainReplica()``).
    public struct Sharing: Sendable {
        /// This process's ID: new at every start, so a restarted replica is a new one.
        public var replicaID: String
        /// Where this replica's agent channel is reached (BERTH_ADVERTISE_URL).
        public var endpoint: String?
        public var heartbeatInterval: Duration
        /// A replica whose heartbeat is older is dead, and its agents away.
        public var replicaTimeout: Duration
        /// How long the singleton lease lasts unrenewed: the longest the singleton loops stop when their
        /// replica dies. Its holder renews it when a third has passed.
        public var leaseDuration: Duration

        public init(
            replicaID: String? = nil,
            endpoint: String? = nil,
            heartbeatInterval: Duration = .seconds(5),
            replicaTimeout: Duration = .seconds(15),
            leaseDuration: Duration = .seconds(10)
        ) {
            self.replicaID = replicaID ?? UUID().uuidString.lowercased()
            self.endpoint = endpoint
            self.heartbeatInterval = heartbeatInterval
            self.replicaTimeout = replicaTimeout
            self.leaseDuration = leaseDuration
        }
    }

    struct Versioned<Value: Sendable>: Sendable {
        var value: Value
        var version: Int64
    }

    /// A record an operation wants written.
    enum Staged {
        case cluster(Cluster)
        case instance(ContainerInstance)
        case definition(TaskDefinition)
        case task(ClusterTask)
        case token(ClientTokenRecord)
        case service(ClusterService)
        case replica(ReplicaRecord)
        case lease(LeaseRecord)
        /// Forgets a record (one past its retention).
        case remove(RecordKind, String)
    }

    let store: any ClusterStore
    let settings: Settings
    let logger: Logger
    var clusters: [String: Versioned<Cluster>] = [:]
    var instances = IndexedRecords<ContainerInstance, InstanceIndex>(indexedBy: InstanceIndex.keys(of:))
    /// Task definitions by `family:revision`.
    var definitions = IndexedRecords<TaskDefinition, DefinitionIndex>(indexedBy: DefinitionIndex.keys(of:))
    var tasks = IndexedRecords<ClusterTask, TaskIndex>(indexedBy: TaskIndex.keys(of:))
    var tokens: [String: Versioned<ClientTokenRecord>] = [:]
    /// Services by ARN.
    var services: [String: Versioned<ClusterService>] = [:]
    /// Replicas sharing the store, by ID (none without sharing).
    var replicas: [String: Versioned<ReplicaRecord>] = [:]
    /// Leases by name.
    var leases: [String: Versioned<LeaseRecord>] = [:]
    /// When this replica's heartbeat was last stored.
    var heartbeatStoredAt: Timestamp?
    /// What the last passes over every instance saw (see ``refreshAgentConnectivity()`` and
    /// ``maintainReplica()``): while neither the instances nor the live replicas changed, a pass would
    /// change nothing, and at thousands of instances the passes were most of an idle replica's work.
    var connectivityRefreshedFor: (instances: Int, liveReplicas: Set<String>)?
    var heldAgentsRecordedFor: Int?
    /// Open payload streams by instance ARN.
    var sessions: [String: any AgentSession] = [:]
    /// Payloads sent and not yet acknowledged, by message ID.
    var inflight: [String: InflightPayload] = [:]

    /// A payload sent and not yet acknowledged: where it went, when, and the desired status it carried for
    /// each task. Forgotten when its agent disconnects or it grows old; the tasks stay unacknowledged and go
    /// out again when the agent connects.
    struct InflightPayload: Sendable {
        var instanceArn: String
        var sentAt: Timestamp
        var desired: [String: DesiredStatus]
    }

    /// How long an unacknowledged payload is remembered.
    static let inflightRetention: Duration = .seconds(600)
    var generator = SystemRandomNumberGenerator()
    /// Services something happened to since their last scheduler pass.
    var servicesDue: Set<String> = []
    /// Services a pass is running over, and the passes waiting for them.
    var servicesInPass: Set<String> = []
    var passWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// When this process started: an instance no agent has connected to since counts as away from then.
    let startedAt: Timestamp
    /// Since when each instance's agent has been away, as this process saw it go.
    var disconnectedSince: [String: Timestamp] = [:]
    /// Whose turn it is to decide and commit (see ``transact(_:)``).
    let commitTurn = CommitTurn()
    /// Writes applied here and gathering for the next store commit, and the one the store is busy with.
    var openCommit: PendingCommit?
    var inflightCommit: PendingCommit?
    /// When the store last failed a commit; nil once one succeeds.
    var storeFailedAt: ContinuousClock.Instant?
    /// How far this process has followed the store's change feed (see ``followChanges()``).
    var feedPosition: Int64 = 0
    /// Tasks the feed showed placed (or stopped) elsewhere for agents connected here, not yet sent: read
    /// under the commit turn, sent once it is released.
    var owedToAgents: Set<String> = []
    /// The reads of the feed API calls share (see ``catchUp()``): how many have started, and the one running.
    var catchUpRoundsStarted = 0
    var catchUpRound: (number: Int, read: Task<Int, any Error>)?
    /// Signalled when a service is due a pass: the scheduler loop waits on it between its ticks.
    public nonisolated let serviceWork = WakeSignal()

    public init(store: any ClusterStore, settings: Settings, logger: Logger) async throws(ClusterError) {
        self.store = store
        self.settings = settings
        self.logger = logger
        self.startedAt = settings.now()
        let records: [StoredRecord]
        do {
            // Read first: what commits between the two reads is in the feed, and following it again
            // changes nothing (a change applies only when newer than what is held).
            feedPosition = try await store.feedPosition()
            records = try await store.loadAll()
        } catch {
            throw ClusterError(.server, "cannot load the control plane's state: \(error)")
        }
        for record in records { try absorb(record) }
        // Instances were read before some replicas' heartbeats, perhaps.
        refreshAgentConnectivity()
        logger.info(
            "control plane state loaded",
            metadata: [
                "clusters": "\(clusters.count)", "instances": "\(instances.count)",
                "taskDefinitions": "\(definitions.count)", "tasks": "\(tasks.count)",
                "services": "\(services.count)",
            ]
        )
    }

    // MARK: Names and ARNs

    func arn(_ resource: String) -> String {
        Self.compact(ARN(region: settings.region, account: settings.account, resource: resource).description)
    }

    /// `text` in storage of its own size. Interpolation leaves up to as much spare capacity as text, and
    /// an ARN lives as long as its record: two per task, 50,000 tasks.
    static func compact(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { buffer in
                _ = buffer.initialize(fromContentsOf: bytes)
                return bytes.count
            }
        }
    }

    func clusterArn(_ name: String) -> String { arn("cluster/\(name)") }

    /// The cluster a request names (by name or ARN; none means `default`), which must be ACTIVE.
    func cluster(_ reference: String?) throws(ClusterError) -> Cluster {
        let name = try clusterName(reference)
        guard let cluster = clusters[name]?.value, cluster.status == .active else { throw .clusterNotFound() }
        return cluster
    }

    func clusterName(_ reference: String?) throws(ClusterError) -> String {
        guard let reference, !reference.isEmpty else { return "default" }
        do {
            return try ClusterName(nameOrARN: reference).value
        } catch {
            throw .clusterNotFound()
        }
    }

    /// A container instance by ID or ARN, within `cluster`.
    func instance(_ reference: String, in cluster: Cluster) -> ContainerInstance? {
        if reference.hasPrefix("arn:") {
            guard let found = instances[reference]?.value, found.clusterArn == cluster.clusterArn else { return nil }
            return found
        }
        return instances[arn("container-instance/\(cluster.clusterName)/\(reference)")]?.value
    }

    /// A task by ID or ARN, within `cluster`.
    func task(_ reference: String, in cluster: Cluster) -> ClusterTask? {
        if reference.hasPrefix("arn:") {
            guard let found = tasks[reference]?.value, found.clusterArn == cluster.clusterArn else { return nil }
            return found
        }
        return tasks[arn("task/\(cluster.clusterName)/\(reference)")]?.value
    }

    /// `family`, `family:revision` or an ARN; a bare family is its latest ACTIVE revision.
    func taskDefinition(_ reference: String) -> TaskDefinition? {
        var text = reference
        if text.hasPrefix("arn:") {
            guard let parsed = ARN(text), parsed.resource.hasPrefix("task-definition/") else { return nil }
            text = String(parsed.resource.dropFirst("task-definition/".count))
        }
        if text.contains(":") { return definitions[text]?.value }
        return definitions.values(.activeFamily(text)).max { $0.revision < $1.revision }
    }

    // MARK: Committing

    /// Runs `decide` against the current state and commits what it stages; on a version conflict reloads
    /// the records involved and decides again.
    ///
    /// Decisions are made one at a time (the commit turn): calls interleave at every `await`, and two
    /// deciding on the same state would otherwise conflict with each other at the store. A decision's
    /// writes are applied here at once, so the next decision builds on them, and committed with the others
    /// made while the store was busy, all in one store commit (a group commit: one fsync or round trip for
    /// many calls). A call returns only once its writes are durable; if their commit fails, every decision
    /// made since goes back with it, and those calls decide again. Only other processes' writes conflict,
    /// and those are retried after a short random pause. While the store is failing, calls fail at once
    /// rather than queue behind each other.
    func transact<Result>(
        _ decide: () throws(ClusterError) -> (staged: [Staged], result: Result)
    ) async throws(ClusterError) -> Result {
        let outcome: Swift.Result<Result, ClusterError>
        do {
            outcome = .success(try await commitInTurn(decide))
        } catch {
            outcome = .failure(error)
        }
        // A conflict may have had this replica follow the feed, and the feed may owe agents here tasks.
        await deliverOwedTasks()
        return try outcome.get()
    }

    private func commitInTurn<Result>(
        _ decide: () throws(ClusterError) -> (staged: [Staged], result: Result)
    ) async throws(ClusterError) -> Result {
        var stale: [RecordKind: Set<String>] = [:]
        for attempt in 0..<12 {
            let pending: PendingCommit?
            let result: Result
            var ownsWrites = false
            do {
                await commitTurn.acquire()
                defer { commitTurn.release() }
                if let failedAt = storeFailedAt, ContinuousClock.now - failedAt < .seconds(1) {
                    throw ClusterError(.server, "The control plane could not store the change.")
                }
                if !stale.isEmpty {
                    // Another replica committed: everything it changed is as stale here as the records that
                    // conflicted, and deciding again on the rest (placement moving to other instances)
                    // would only conflict on those. Follow the whole feed, then make sure of the keys, in
                    // case their commits are not visible in the feed yet.
                    await settleInTurn()
                    if settings.sharing != nil { try await applyFeedInTurn() }
                    try await reload(stale)
                    stale = [:]
                }
                let decided = try decide()
                result = decided.result
                if decided.staged.isEmpty {
                    // The answer may rest on writes not yet durable: it waits for them.
                    pending = openCommit ?? inflightCommit
                } else {
                    var writes = try decided.staged.map(write(for:))
                    if Self.actingAsSingleton, settings.sharing != nil {
                        // A singleton loop's writes land only under the lease this replica holds now.
                        guard let lease = heldLease() else {
                            throw ClusterError(
                                .server,
                                "This replica no longer holds the lease of the singleton loops."
                            )
                        }
                        writes.append(.check(.lease, Self.singletonLease, at: lease.version))
                    }
                    pending = enqueue(decided.staged, writes: writes)
                    ownsWrites = true
                }
            }
            guard let pending else { return result }
            let outcome = await pending.outcome()
            if !ownsWrites, outcome != .committed {
                // What the answer rested on did not land: decided again on what did.
                continue
            }
            switch outcome {
            case .committed:
                return result
            case .conflict(let keys):
                logger.debug("version conflict; deciding again", metadata: ["records": "\(keys)"])
                stale = keys
                let pause = Int.random(in: 0...min(64, 1 << attempt), using: &generator)
                try? await Task.sleep(for: .milliseconds(pause))
            case .undone:
                // Decided on writes that did not land: decided again on what did.
                continue
            case .failed:
                throw ClusterError(.server, "The control plane could not store the change.")
            }
        }
        throw ClusterError(.server, "The change conflicted with concurrent changes too often; try again.")
    }

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    private func write(for change: Staged) throws(ClusterError) -> RecordWrite {
        do {
            switch change {
            case .cluster(let value):
                return RecordWrite(
                    kind: .cluster,
                    key: value.clusterName,
                    expectedVersion: clusters[value.clusterName]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .instance(let value):
                return RecordWrite(
                    kind: .containerInstance,
                    key: value.containerInstanceArn,
                    expectedVersion: instances[value.containerInstanceArn]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .definition(let value):
                return RecordWrite(
                    kind: .taskDefinition,
                    key: value.key,
                    expectedVersion: definitions[value.key]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .task(let value):
                return RecordWrite(
                    kind: .task,
                    key: value.taskArn,
                    expectedVersion: tasks[value.taskArn]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .token(let value):
                return RecordWrite(
                    kind: .clientToken,
                    key: value.token,
                    expectedVersion: tokens[value.token]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .service(let value):
                return RecordWrite(
                    kind: .service,
                    key: value.serviceArn,
                    expectedVersion: services[value.serviceArn]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .replica(let value):
                return RecordWrite(
                    kind: .replica,
                    key: value.id,
                    expectedVersion: replicas[value.id]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .lease(let value):
                return RecordWrite(
                    kind: .lease,
                    key: value.name,
                    expectedVersion: leases[value.name]?.version ?? 0,
                    body: try Self.encoder.encode(value)
                )
            case .remove(let kind, let key):
                return RecordWrite(kind: kind, key: key, expectedVersion: version(of: kind, key) ?? 0, body: nil)
            }
        } catch {
            throw ClusterError(.server, "cannot encode a record: \(error)")
        }
    }

    func apply(_ change: Staged, version: Int64) {
        switch change {
        case .cluster(let value): clusters[value.clusterName] = Versioned(value: value, version: version)
        case .instance(let value):
            instances[value.containerInstanceArn] = Versioned(value: value, version: version)
        case .definition(let value): definitions[value.key] = Versioned(value: value, version: version)
        case .task(let value): tasks[value.taskArn] = Versioned(value: value, version: version)
        case .token(let value): tokens[value.token] = Versioned(value: value, version: version)
        case .service(let value): services[value.serviceArn] = Versioned(value: value, version: version)
        case .replica(let value): replicas[value.id] = Versioned(value: value, version: version)
        case .lease(let value): leases[value.name] = Versioned(value: value, version: version)
        case .remove(let kind, let key): forget(kind, key)
        }
    }

    func version(of kind: RecordKind, _ key: String) -> Int64? {
        switch kind {
        case .cluster: clusters[key]?.version
        case .containerInstance: instances[key]?.version
        case .taskDefinition: definitions[key]?.version
        case .task: tasks[key]?.version
        case .clientToken: tokens[key]?.version
        case .service: services[key]?.version
        case .replica: replicas[key]?.version
        case .lease: leases[key]?.version
        }
    }

    func forget(_ kind: RecordKind, _ key: String) {
        switch kind {
        case .cluster: clusters[key] = nil
        case .containerInstance: instances[key] = nil
        case .taskDefinition: definitions[key] = nil
        case .task: tasks[key] = nil
        case .clientToken: tokens[key] = nil
        case .service: services[key] = nil
        case .replica: replicas[key] = nil
        case .lease: leases[key] = nil
        }
    }

    private func reload(_ keys: [RecordKind: Set<String>]) async throws(ClusterError) {
        for (kind, keySet) in keys {
            let records: [StoredRecord]
            do {
                records = try await store.load(kind, keys: keySet)
            } catch {
                throw ClusterError(.server, "cannot reload records: \(error)")
            }
            let found = Set(records.map(\.key))
            for key in keySet.subtracting(found) { forget(kind, key) }
            for record in records { try absorb(record) }
            // Instances were read before some replicas' heartbeats, perhaps.
            refreshAgentConnectivity()
        }
    }

    func absorb(_ record: StoredRecord) throws(ClusterError) {
        do {
            switch record.kind {
            case .cluster:
                let value = try Self.decoder.decode(Cluster.self, from: record.body)
                clusters[record.key] = Versioned(value: value, version: record.version)
            case .containerInstance:
                var value = try Self.decoder.decode(ContainerInstance.self, from: record.body)
                // Whether an agent is connected is this process's knowledge, and with replicas what the
                // others say of the agents they hold, while they live.
                value.agentConnected = agentIsConnected(value)
                instances[record.key] = Versioned(value: value, version: record.version)
            case .taskDefinition:
                let value = try Self.decoder.decode(TaskDefinition.self, from: record.body)
                definitions[record.key] = Versioned(value: value, version: record.version)
            case .task:
                let value = try Self.decoder.decode(ClusterTask.self, from: record.body)
                tasks[record.key] = Versioned(value: value, version: record.version)
            case .clientToken:
                let value = try Self.decoder.decode(ClientTokenRecord.self, from: record.body)
                tokens[record.key] = Versioned(value: value, version: record.version)
            case .service:
                let value = try Self.decoder.decode(ClusterService.self, from: record.body)
                services[record.key] = Versioned(value: value, version: record.version)
            case .replica:
                let value = try Self.decoder.decode(ReplicaRecord.self, from: record.body)
                replicas[record.key] = Versioned(value: value, version: record.version)
            case .lease:
                let value = try Self.decoder.decode(LeaseRecord.self, from: record.body)
                leases[record.key] = Versioned(value: value, version: record.version)
            }
        } catch {
            throw ClusterError(.server, "stored \(record.kind.rawValue) '\(record.key)' cannot be read: \(error)")
        }
    }

    // MARK: Queries shared by the operations

    /// The cluster's tasks not yet STOPPED.
    func liveTasks(in cluster: Cluster) -> [ClusterTask] { tasks.values(.liveInCluster(cluster.clusterArn)) }

    /// Every task placed on the instance, stopped ones included.
    func tasks(onInstance arn: String) -> [ClusterTask] { tasks.values(.instance(arn)) }

    /// The instance's tasks not yet STOPPED.
    func liveTasks(onInstance arn: String) -> [ClusterTask] { tasks.values(.liveOnInstance(arn)) }

    /// The cluster's ACTIVE and DRAINING instances.
    func instances(in cluster: Cluster) -> [ContainerInstance] {
        instances.values(.cluster(cluster.clusterArn)).filter { $0.status != .inactive }
    }

    /// Running and pending task counts as ECS shows them on clusters and instances.
    public struct TaskCounts: Sendable, Hashable {
        public var running = 0
        public var pending = 0
    }

    func counts(_ tasks: [ClusterTask]) -> TaskCounts {
        var counts = TaskCounts()
        for task in tasks {
            switch task.lastStatus {
            case "RUNNING": counts.running += 1
            case "PENDING", "PROVISIONING": counts.pending += 1
            default: break
            }
        }
        return counts
    }
}
