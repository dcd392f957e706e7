import BerthAgentChannel
import BerthConfig
import BerthControlPlane
import BerthModel
import BerthStore
import BerthTestSupport
import Foundation
import Logging
import PropertyBased
import Synchronization
import Testing

/// Three replicas on one PostgreSQL database, each following the change feed, holding one host's agent
/// and taking part in the singleton lease, as `berth control-plane` replicas do. Clients call RunTask,
/// StopTask and UpdateService through any of them at once; simulated agents acknowledge and report.
@Suite("Three replicas on one PostgreSQL database: concurrent RunTask, StopTask and UpdateService")
struct ReplicaConcurrencyTests {
    static let logger = ConcurrentPlacementTests.logger
    static let families = ConcurrentPlacementTests.families
    static let clients = 4
    static let instanceMemory = 1024
    static let instanceCPU = 1024

    @Test(
        "reservations equal the sum over live tasks and fit every instance, no host port twice, every acknowledged write is there, no service over-launched"
    )
    func threeReplicas() async throws {
        // Each number is one call: which operation, its argument, and the replica it goes through.
        let calls = Gen.int(in: 0...1_000_000).array(of: 12...32)
        await propertyCheck(count: 6, input: calls) { numbers in
            guard let database = try? await TestDatabase.create() else {
                Issue.record("cannot create a test database")
                return
            }
            var cluster: ReplicaCluster?
            do {
                let replicas = try await ReplicaCluster.start(database.url)
                cluster = replicas
                let ledger = try await replicas.run(numbers)
                try await replicas.settle()
                let judge = try await ReplicaCluster.judge(database.url)
                let state = try await ClusterState.read(judge.plane)
                judge.store.close()
                for violation in state.violations(instanceMemory: Self.instanceMemory, instanceCPU: Self.instanceCPU) {
                    Issue.record("\(violation)")
                }
                for missing in state.missing(ledger) { Issue.record("\(missing)") }
            } catch {
                Issue.record("\(error)")
            }
            await cluster?.stop()
            await database.drop()
        }
    }

    @Test(
        "the same checks catch replicas whose store does not check versions: two replicas that have not followed each other over-commit an instance"
    )
    func blindWritesOverCommit() async throws {
        for blind in [false, true] {
            let database = try await TestDatabase.create()
            var stores: [any ClusterStore] = []
            do {
                for _ in 0..<2 {
                    let store = try await PostgresClusterStore.open(database.url, logger: Self.logger)
                    stores.append(blind ? BlindWriteStore(store) : store)
                }
                let first = try await ControlPlane(
                    store: stores[0],
                    settings: ReplicaCluster.settings(),
                    logger: Self.logger
                )
                _ = try await first.createCluster(name: nil)
                let instance = try await first.registerContainerInstance(
                    ReplicaCluster.registration(memory: Self.instanceMemory, cpu: Self.instanceCPU)
                )
                try await first.agentConnected(instanceArn: instance.containerInstanceArn, session: NullSession())
                for family in Self.families { _ = try await first.registerTaskDefinition(family) }
                // Both loaded the same state and neither follows the other: each believes the instance free.
                let second = try await ControlPlane(
                    store: stores[1],
                    settings: ReplicaCluster.settings(),
                    logger: Self.logger
                )
                try await second.agentConnected(instanceArn: instance.containerInstanceArn, session: NullSession())
                for _ in 0..<3 {
                    for plane in [first, second] {
                        _ = try await plane.launch(TaskLaunch(taskDefinition: "memory"))
                        _ = try await plane.launch(TaskLaunch(taskDefinition: "port-a"))
                    }
                }
                let judge = try await ReplicaCluster.judge(database.url)
                let violations = try await ClusterState.read(judge.plane).violations(
                    instanceMemory: Self.instanceMemory,
                    instanceCPU: Self.instanceCPU
                )
                judge.store.close()
                if blind {
                    #expect(violations.contains { $0.hasPrefix("over-committed") })
                    #expect(violations.contains { $0.hasPrefix("host port reserved twice") })
                    #expect(violations.contains { $0.hasPrefix("reserved") })
                } else {
                    #expect(violations.isEmpty, "\(violations)")
                }
            } catch {
                Issue.record("\(error)")
            }
            for store in stores { store.closePostgres() }
            await database.drop()
        }
    }
}

/// What the clients were told: tasks placed, stops accepted, and the last desired count each service was
/// given (each client alone updates its own service, so its last acknowledged update is the one standing).
struct Ledger: Sendable {
    var placed: Set<String> = []
    var stopped: Set<String> = []
    var desiredCounts: [String: Int] = [:]
}

/// Three replicas, each with its own store (its own connection pool and LISTEN connection), its follower,
/// its lease and scheduler loop, and the agent of one instance connected to it.
struct ReplicaCluster: Sendable {
    struct Replica: Sendable {
        let plane: ControlPlane
        let store: PostgresClusterStore
    }

    let replicas: [Replica]
    let instances: [String]
    let background: Task<Void, Never>
    let agents: [SimulatedAgent]

    static func settings() -> ControlPlane.Settings {
        ControlPlane.Settings(
            region: "us-east-1",
            account: "123456789012",
            sharing: ControlPlane.Sharing()
        )
    }

    static func registration(memory: Int, cpu: Int) -> InstanceRegistration {
        InstanceRegistration(
            cluster: "default",
            totalResources: [
                .integer("CPU", cpu), .integer("MEMORY", memory), .stringSet("PORTS", ["22"]),
                .stringSet("PORTS_UDP", []),
            ],
            attributes: [],
            versionInfo: VersionInfo()
        )
    }

    static func replica(_ url: DatabaseURL) async throws -> Replica {
        let store = try await PostgresClusterStore.open(url, logger: ReplicaConcurrencyTests.logger)
        do {
            let plane = try await ControlPlane(
                store: store,
                settings: settings(),
                logger: ReplicaConcurrencyTests.logger
            )
            return Replica(plane: plane, store: store)
        } catch {
            store.close()
            throw error
        }
    }

    /// A control plane that only reads what the replicas left.
    static func judge(_ url: DatabaseURL) async throws -> Replica { try await replica(url) }

    /// The first replica takes the lease and registers the cluster, three instances, the task definitions
    /// and one service per client; then two more replicas start, and instance i's agent connects to replica i.
    static func start(_ url: DatabaseURL) async throws -> ReplicaCluster {
        var replicas = [try await replica(url)]
        let first = replicas[0].plane
        await first.maintainReplica()
        _ = try await first.createCluster(name: nil)
        var instances: [String] = []
        for _ in 0..<3 {
            let instance = try await first.registerContainerInstance(
                registration(
                    memory: ReplicaConcurrencyTests.instanceMemory,
                    cpu: ReplicaConcurrencyTests.instanceCPU
                )
            )
            instances.append(instance.containerInstanceArn)
        }
        for family in ReplicaConcurrencyTests.families { _ = try await first.registerTaskDefinition(family) }
        for client in 0..<ReplicaConcurrencyTests.clients {
            _ = try await first.createService(
                ServiceRequest(serviceName: "service-\(client)", taskDefinition: "cpu", desiredCount: 1)
            )
        }
        for _ in 1..<3 { replicas.append(try await replica(url)) }
        var agents: [SimulatedAgent] = []
        for (index, replica) in replicas.enumerated() {
            await replica.plane.maintainReplica()
            let agent = SimulatedAgent(plane: replica.plane, instanceArn: instances[index])
            try await replica.plane.agentConnected(instanceArn: instances[index], session: agent.session)
            agents.append(agent)
        }
        let planes = replicas.map(\.plane)
        let stores = replicas.map(\.store)
        let simulated = agents
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                for (plane, store) in zip(planes, stores) {
                    // The follower: woken by the store's notifications, and polling.
                    group.addTask {
                        let wake = WakeSignal()
                        await withTaskGroup(of: Void.self) { inner in
                            inner.addTask { for await _ in store.changeSignals() { wake.signal() } }
                            inner.addTask {
                                while !Task.isCancelled {
                                    _ = try? await plane.followChanges()
                                    await wake.wait(upTo: .milliseconds(200))
                                }
                            }
                        }
                    }
                    // Heartbeat, lease and scheduler, as the daemon's loops run them.
                    group.addTask {
                        while !Task.isCancelled {
                            await plane.maintainReplica()
                            await plane.reconcileServices(dueOnly: true)
                            await plane.serviceWork.wait(upTo: .milliseconds(100))
                        }
                    }
                }
                for agent in simulated { group.addTask { await agent.run() } }
            }
        }
        return ReplicaCluster(replicas: replicas, instances: instances, background: background, agents: agents)
    }

    /// The calls, split between the clients; each client makes its calls one after another, every call
    /// through the replica its number names, after catching up as the API does before each call.
    func run(_ numbers: [Int]) async throws -> Ledger {
        let clients = ReplicaConcurrencyTests.clients
        let ledgers = try await withThrowingTaskGroup(of: Ledger.self) { group in
            for client in 0..<clients {
                let mine = numbers.enumerated().filter { $0.offset % clients == client }.map(\.element)
                group.addTask { try await self.client(client, calls: mine) }
            }
            var ledgers: [Ledger] = []
            for try await ledger in group { ledgers.append(ledger) }
            return ledgers
        }
        var ledger = Ledger()
        for part in ledgers {
            ledger.placed.formUnion(part.placed)
            ledger.stopped.formUnion(part.stopped)
            ledger.desiredCounts.merge(part.desiredCounts) { $1 }
        }
        return ledger
    }

    private func client(_ client: Int, calls: [Int]) async throws -> Ledger {
        var ledger = Ledger()
        var mine: [String] = []
        for number in calls {
            let plane = replicas[(number / 1000) % replicas.count].plane
            try await plane.catchUp()
            let argument = number / 3
            switch number % 3 {
            case 1 where !mine.isEmpty:
                // Often the task the client just placed, maybe through another replica: it is found
                // through this one all the same.
                let arn = argument % 2 == 0 ? mine.removeLast() : mine.remove(at: argument % mine.count)
                _ = try await plane.stopTask(arn, cluster: nil, reason: "client \(client)")
                ledger.stopped.insert(arn)
            case 2:
                let service = "service-\(client)"
                let count = argument % 4
                _ = try await plane.updateService(ServiceUpdate(service: service, desiredCount: count))
                ledger.desiredCounts[service] = count
            default:
                let family = ReplicaConcurrencyTests.families[argument % 4].family
                let (placed, _) = try await plane.launch(
                    TaskLaunch(taskDefinition: family, count: (argument / 4) % 3 + 1)
                )
                mine += placed.map(\.taskArn)
                ledger.placed.formUnion(placed.map(\.taskArn))
            }
        }
        return ledger
    }

    /// Lets the loops finish what the calls started: every replica follows, then the lease holder's
    /// scheduler passes over every service until a pass changes nothing (bounded).
    func settle() async throws {
        try await waitUntil("the replicas settle") {
            for replica in replicas { try await replica.plane.followChanges() }
            var quiet = true
            for replica in replicas {
                guard await replica.plane.runsSingletonLoops else { continue }
                let before = try await replica.plane.listTasks(TaskListFilter()).count
                await replica.plane.reconcileServices()
                try await replica.plane.followChanges()
                if try await replica.plane.listTasks(TaskListFilter()).count != before { quiet = false }
            }
            let delivering = agents.map(\.isBusy).contains(true)
            return quiet && !delivering
        }
        background.cancel()
        await background.value
        for replica in replicas { try await replica.plane.followChanges() }
    }

    func stop() async {
        background.cancel()
        for agent in agents { agent.session.close(reason: "test over") }
        await background.value
        for replica in replicas { replica.store.close() }
    }
}

/// Everything the replicas left, as one control plane loading the store reads it.
struct ClusterState {
    var instances: [ContainerInstance]
    var tasks: [ClusterTask]
    var services: [ClusterService]

    static func read(_ plane: ControlPlane) async throws -> ClusterState {
        let instanceArns = try await plane.listInstances(cluster: nil, filter: nil, status: nil).map(\.item)
        let instances = try await plane.describeInstances(instanceArns, cluster: nil).instances.map(\.instance)
        var taskArns = try await plane.listTasks(TaskListFilter(desiredStatus: .running)).map(\.item)
        taskArns += try await plane.listTasks(TaskListFilter(desiredStatus: .stopped)).map(\.item)
        var tasks: [ClusterTask] = []
        for start in stride(from: 0, to: taskArns.count, by: 100) {
            let chunk = Array(taskArns[start..<min(start + 100, taskArns.count)])
            tasks += try await plane.describeTasks(chunk, cluster: nil).tasks
        }
        let serviceArns = try await plane.listServices(cluster: nil).map(\.item)
        let services = serviceArns.isEmpty ? [] : try await plane.describeServices(serviceArns, cluster: nil).services
        return ClusterState(instances: instances, tasks: tasks, services: services)
    }

    /// What must never be: an instance's reservation other than the sum over its live tasks, more reserved
    /// than it registered, a host port held by two live tasks, a service with more tasks desired running
    /// than its desired count once its scheduler has settled.
    func violations(instanceMemory: Int, instanceCPU: Int) -> [String] {
        var found: [String] = []
        for instance in instances {
            let live = tasks.filter { $0.containerInstanceArn == instance.containerInstanceArn && !$0.isStopped }
            let summed = live.map(\.reservation).reduce(Reservation(), +)
            if instance.reserved != summed {
                found.append(
                    "reserved \(instance.reserved) on \(instance.containerInstanceArn), live tasks hold \(summed)"
                )
            }
            if summed.memory > instanceMemory || summed.cpu > instanceCPU {
                found.append("over-committed \(instance.containerInstanceArn): live tasks hold \(summed)")
            }
            let ports = live.flatMap(\.reservation.ports)
            if ports.count != Set(ports).count {
                found.append("host port reserved twice on \(instance.containerInstanceArn): \(ports.sorted())")
            }
        }
        for service in services {
            let running = tasks.filter { $0.group == "service:\(service.serviceName)" && $0.desiredStatus == .running }
            if running.count > service.desiredCount {
                found.append("over-launched \(service.serviceName): \(running.count) tasks for \(service.desiredCount)")
            }
        }
        return found
    }

    /// Acknowledged writes that are not there.
    func missing(_ ledger: Ledger) -> [String] {
        let byArn = Dictionary(tasks.map { ($0.taskArn, $0) }, uniquingKeysWith: { first, _ in first })
        var found: [String] = []
        for arn in ledger.placed where byArn[arn] == nil { found.append("placed task missing: \(arn)") }
        for arn in ledger.stopped where byArn[arn]?.desiredStatus != .stopped {
            found.append("stopped task not desired STOPPED: \(arn)")
        }
        for (name, count) in ledger.desiredCounts {
            let stored = services.first { $0.serviceName == name }?.desiredCount
            if stored != count {
                found.append("\(name): desired count \(stored.map(String.init) ?? "none"), set to \(count)")
            }
        }
        return found
    }
}

/// A store with its version checks taken out, as a broken implementation would have it: every write is
/// made to expect whatever version the record has now, and fences (check-only writes) are dropped. The
/// concurrency checks must fail on it.
struct BlindWriteStore: ClusterStore {
    let base: any ClusterStore

    init(_ base: any ClusterStore) { self.base = base }

    func loadAll() async throws(ClusterStoreError) -> [StoredRecord] { try await base.loadAll() }

    func load(_ kind: RecordKind, keys: Set<String>) async throws(ClusterStoreError) -> [StoredRecord] {
        try await base.load(kind, keys: keys)
    }

    func commit(_ writes: [RecordWrite]) async throws(ClusterStoreError) {
        var writes = writes.filter { !$0.checkOnly }
        for index in writes.indices {
            let current = try await base.load(writes[index].kind, keys: [writes[index].key]).first
            writes[index].expectedVersion = current?.version ?? 0
        }
        try await base.commit(writes)
    }

    func feedPosition() async throws(ClusterStoreError) -> Int64 { try await base.feedPosition() }

    func changes(after position: Int64) async throws(ClusterStoreError) -> ChangeBatch {
        try await base.changes(after: position)
    }

    func changeSignals() -> AsyncStream<Void> { base.changeSignals() }
}

extension ClusterStore {
    /// Ends a PostgreSQL store's pool, whether it is wrapped or not.
    func closePostgres() {
        ((self as? BlindWriteStore)?.base as? PostgresClusterStore ?? self as? PostgresClusterStore)?.close()
    }
}
