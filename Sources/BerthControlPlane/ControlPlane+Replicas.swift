import BerthModel
import Foundation
import Logging

/// Replicas sharing one store: each says it is alive, says which agents it holds, and one at a time holds
/// the lease under which the singleton loops (service scheduler, record expiry, lost-instance check) run.
extension ControlPlane {
    /// The lease of the singleton loops.
    static let singletonLease = "singletons"

    /// Set while a singleton loop runs: its writes then require the lease (see ``transact(_:)``).
    @TaskLocal static var actingAsSingleton = false

    /// The singleton lease, when this replica holds it and it has not run out.
    func heldLease() -> Versioned<LeaseRecord>? {
        guard let sharing = settings.sharing, let lease = leases[Self.singletonLease],
            lease.value.holder == sharing.replicaID, settings.now() < lease.value.expiresAt
        else { return nil }
        return lease
    }

    /// Whether this process runs the singleton loops now: always when alone with its store, with replicas
    /// while it holds the lease.
    public var runsSingletonLoops: Bool { settings.sharing == nil || heldLease() != nil }

    /// Runs a singleton loop's `work`: with replicas only on the lease holder (otherwise returns `idle`),
    /// with every write it makes fenced by the lease.
    func asSingleton<Value>(
        idle: Value,
        _ work: () async throws(ClusterError) -> Value
    ) async throws(ClusterError) -> Value {
        guard runsSingletonLoops else { return idle }
        do {
            return try await Self.$actingAsSingleton.withValue(true) { try await work() }
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError(.server, "\(error)")
        }
    }

    /// A replica is alive while its heartbeat is recent.
    func replicaIsLive(_ id: String) -> Bool {
        guard let sharing = settings.sharing else { return false }
        if id == sharing.replicaID { return true }
        guard let replica = replicas[id]?.value else { return false }
        return settings.now().duration(since: replica.heartbeatAt) < sharing.replicaTimeout
    }

    /// Whether an instance's agent is connected: here, or with replicas to a replica that is alive.
    func agentIsConnected(_ instance: ContainerInstance) -> Bool {
        if sessions[instance.containerInstanceArn] != nil { return true }
        guard let sharing = settings.sharing, let holder = instance.agentReplica, holder != sharing.replicaID else {
            return false
        }
        return replicaIsLive(holder)
    }

    /// Sets each instance's `agentConnected` as it stands now (replicas die without a word); a change
    /// gives its cluster's services a pass.
    func refreshAgentConnectivity() {
        let liveReplicas = Set(replicas.keys.filter(replicaIsLive))
        if let last = connectivityRefreshedFor, last.instances == instances.generation,
            last.liveReplicas == liveReplicas
        {
            return
        }
        for (arn, instance) in instances.records {
            let connected = agentIsConnected(instance.value)
            guard connected != instance.value.agentConnected else { continue }
            instances[arn]?.value.agentConnected = connected
            servicesNeedPass(inCluster: instance.value.clusterArn)
        }
        connectivityRefreshedFor = (instances.generation, liveReplicas)
    }

    /// One round of a replica's duties, run every second or so: store its heartbeat when due, take or renew
    /// the singleton lease, see which agents count as connected, and make the store say which agents this
    /// replica holds (a connect or disconnect whose write failed, in a database outage, is made good here).
    /// Does nothing for a control plane alone with its store.
    public func maintainReplica() async {
        guard let sharing = settings.sharing else { return }
        let now = settings.now()
        if heartbeatStoredAt.map({ now.duration(since: $0) >= sharing.heartbeatInterval }) ?? true {
            do {
                try await transact { () throws(ClusterError) -> ([Staged], Void) in
                    let started = replicas[sharing.replicaID]?.value.startedAt ?? startedAt
                    let record = ReplicaRecord(
                        id: sharing.replicaID,
                        startedAt: started,
                        heartbeatAt: now,
                        endpoint: sharing.endpoint
                    )
                    return ([.replica(record)], ())
                }
                heartbeatStoredAt = now
            } catch {
                logger.warning("cannot store this replica's heartbeat", metadata: ["error": "\(error)"])
            }
        }
        await maintainLease(sharing, now: now)
        refreshAgentConnectivity()
        await recordHeldAgents(sharing, now: now)
    }

    private func maintainLease(_ sharing: Sharing, now: Timestamp) async {
        let wasHolder = leases[Self.singletonLease]?.value.holder == sharing.replicaID
        do {
            let taken = try await transact { () throws(ClusterError) -> ([Staged], LeaseRecord?) in
                let current = leases[Self.singletonLease]?.value
                let expiresAt = now.adding(sharing.leaseDuration)
                if let current, current.holder == sharing.replicaID, now < current.expiresAt {
                    // Renewed once a third of it has passed.
                    guard current.expiresAt.duration(since: now) < sharing.leaseDuration * 2 / 3 else {
                        return ([], nil)
                    }
                    var renewed = current
                    renewed.expiresAt = expiresAt
                    return ([.lease(renewed)], nil)
                }
                if let current, now < current.expiresAt { return ([], nil) }
                let lease = LeaseRecord(
                    name: Self.singletonLease,
                    holder: sharing.replicaID,
                    epoch: (current?.epoch ?? 0) + 1,
                    expiresAt: expiresAt
                )
                return ([.lease(lease)], lease)
            }
            if let taken {
                logger.info(
                    "this replica runs the singleton loops now",
                    metadata: ["replica": "\(sharing.replicaID)", "epoch": "\(taken.epoch)"]
                )
                // What the previous holder left undone is decided again from the store.
                for arn in services.keys { servicesDue.insert(arn) }
                serviceWork.signal()
            }
        } catch {
            logger.warning("cannot take or renew the singleton lease", metadata: ["error": "\(error)"])
        }
        if wasHolder, heldLease() == nil {
            logger.warning(
                "this replica no longer holds the singleton lease",
                metadata: ["replica": "\(sharing.replicaID)"]
            )
        }
    }

    private func recordHeldAgents(_ sharing: Sharing, now: Timestamp) async {
        // Agents connect and disconnect through instance writes, so nothing is to be made good while the
        // instances stay as the last successful pass left them.
        guard heldAgentsRecordedFor != instances.generation else { return }
        do {
            let looked = try await transact { () throws(ClusterError) -> ([Staged], Int) in
                let generation = instances.generation
                var staged: [Staged] = []
                for (_, entry) in instances.records where entry.value.status != .inactive {
                    let instance = entry.value
                    let held = sessions[instance.containerInstanceArn] != nil
                    if held, instance.agentReplica != sharing.replicaID {
                        staged.append(.instance(heldHere(instance, sharing)))
                    } else if !held, instance.agentReplica == sharing.replicaID {
                        staged.append(.instance(releasedHere(instance, at: now)))
                    }
                }
                return (staged, generation)
            }
            // (Its own writes move the generation on: the next pass finds nothing to do, and settles.)
            heldAgentsRecordedFor = looked
        } catch {
            logger.warning("cannot store which agents this replica holds", metadata: ["error": "\(error)"])
        }
    }

    func heldHere(_ instance: ContainerInstance, _ sharing: Sharing) -> ContainerInstance {
        var held = instance
        held.agentReplica = sharing.replicaID
        held.agentAwaySince = nil
        held.agentConnected = true
        return held
    }

    func releasedHere(_ instance: ContainerInstance, at now: Timestamp) -> ContainerInstance {
        var released = instance
        released.agentReplica = nil
        released.agentAwaySince = now
        released.agentConnected = false
        return released
    }

    /// With replicas, stores that this replica holds the instance's agent now, or no longer.
    func recordAgent(_ instanceArn: String, held: Bool) async {
        guard let sharing = settings.sharing else { return }
        let now = settings.now()
        do {
            try await transact { () throws(ClusterError) -> ([Staged], Void) in
                guard let instance = instances[instanceArn]?.value else { return ([], ()) }
                if held {
                    guard sessions[instanceArn] != nil, instance.agentReplica != sharing.replicaID else {
                        return ([], ())
                    }
                    return ([.instance(heldHere(instance, sharing))], ())
                }
                // Another replica may hold it already: only this replica's claim is withdrawn.
                guard sessions[instanceArn] == nil, instance.agentReplica == sharing.replicaID else { return ([], ()) }
                return ([.instance(releasedHere(instance, at: now))], ())
            }
        } catch {
            heldAgentsRecordedFor = nil
            logger.warning(
                "cannot store which replica holds the agent; retried with the next heartbeat",
                metadata: ["instance": "\(instanceArn)", "error": "\(error)"]
            )
        }
    }

    /// Where the payload channel of the agent of `instance` (an ARN, or an ID in `cluster`) should open,
    /// among the live replicas that say where they are (see ``PollEndpointSteering``); nil when none does,
    /// or without replicas. The asking agent's own channel, if it still has one, is not counted.
    public func pollEndpoint(forInstance instance: String?, cluster: String?) -> String? {
        guard let sharing = settings.sharing else { return nil }
        let now = settings.now()
        var asking = instance ?? ""
        if let instance, !instance.hasPrefix("arn:"), let found = try? self.cluster(cluster) {
            asking = self.instance(instance, in: found)?.containerInstanceArn ?? instance
        }
        var held: [String: Int] = [:]
        for instance in instances.values.map(\.value) where instance.containerInstanceArn != asking {
            if instance.agentConnected, let replica = instance.agentReplica { held[replica, default: 0] += 1 }
        }
        let candidates = replicas.values.map(\.value).compactMap { replica -> PollEndpointSteering.Candidate? in
            guard let endpoint = replica.endpoint, now.duration(since: replica.heartbeatAt) < sharing.replicaTimeout
            else { return nil }
            return PollEndpointSteering.Candidate(
                replicaID: replica.id,
                endpoint: endpoint,
                agents: held[replica.id] ?? 0
            )
        }
        return PollEndpointSteering.choose(for: asking, among: candidates)
    }
}
