import BerthControlPlane
import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps every open payload channel alive from one loop: a heartbeat to each channel idle for the
/// heartbeat interval, a close of those whose heartbeats go unanswered, and each channel's manifest when it
/// is due. One loop looks at all of them a few times per interval; a sleeping task per channel cost
/// thousands of timers and a thread wake-up per heartbeat, most of an idle control plane's CPU at thousands
/// of agents. Writes go out in tasks of their own, so a channel that does not drain holds up no other.
public final class ChannelKeeper: Service, Sendable {
    let controlPlane: ControlPlane
    let timing: AgentChannelEndpoint.Timing
    let logger: Logger
    private let open = Mutex<[ObjectIdentifier: WebSocketAgentSession]>([:])

    init(controlPlane: ControlPlane, timing: AgentChannelEndpoint.Timing, logger: Logger) {
        self.controlPlane = controlPlane
        self.timing = timing
        self.logger = logger
    }

    /// How often the channels are looked at: a heartbeat goes out at most this late.
    var tick: Duration { min(.seconds(1), timing.heartbeatInterval / 4) }

    func keep(_ session: WebSocketAgentSession) {
        open.withLock { $0[ObjectIdentifier(session)] = session }
    }

    func release(_ session: WebSocketAgentSession) {
        _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(session)) }
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    let now = ContinuousClock.now
                    for session in self.open.withLock({ Array($0.values) }) {
                        let duties = session.takeDuties(at: now, timing: self.timing)
                        if let reason = duties.close {
                            self.logger.warning(
                                "Closing an agent's channel",
                                metadata: ["instance": "\(session.peer.instanceArn)", "reason": "\(reason)"]
                            )
                            session.close(reason: reason)
                            continue
                        }
                        if duties.heartbeat { group.addTask { await session.sendHeartbeat() } }
                        if duties.manifest { group.addTask { await self.sendManifest(to: session) } }
                    }
                    try? await Task.sleep(for: self.tick)
                }
            }
        }
        await closeAll()
    }

    /// Closes every open channel, so that its agent connects again (to another replica, if there is
    /// one), and waits a while for the control plane to count them disconnected.
    private func closeAll() async {
        for session in open.withLock({ Array($0.values) }) {
            session.close(reason: "the control plane is shutting down")
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, !Task.isCancelled, !open.withLock({ $0.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends the instance's task manifest, so that its agent learns of tasks the control plane no longer
    /// places there; the next is due a manifest interval later.
    func sendManifest(to session: WebSocketAgentSession) async {
        do {
            let entries = try await controlPlane.taskManifest(instanceArn: session.peer.instanceArn)
            await session.sendManifest(entries)
        } catch {
            logger.info("No manifest for the instance", metadata: ["error": "\(error)"])
        }
        session.manifestDone(next: .now + timing.manifestInterval)
    }
}
