public import BerthAgentChannel
import BerthModel

/// The agent's half of ACS's two-phase reconciliation, as a pure decision: a task manifest lists every task
/// the control plane places on this instance. Tasks the agent runs that the manifest lists as STOPPED are
/// stopped at once (the manifest itself says so); tasks it runs that the manifest lacks are only candidates,
/// stopped once the control plane confirms them for this very manifest. A stale manifest (not newer than the
/// last one) does nothing, and a confirmation for an older manifest stops nothing, so a task placed while a
/// manifest was on its way is never stopped by it.
public struct ManifestReconciliation: Sendable {
    /// A task the agent runs, as the reconciliation needs to see it.
    public struct LocalTask: Sendable, Hashable {
        public var taskArn: String
        /// Whether the agent still means to run it (desired RUNNING, not stopped yet).
        public var running: Bool

        public init(taskArn: String, running: Bool) {
            self.taskArn = taskArn
            self.running = running
        }
    }

    public struct Decision: Sendable, Hashable {
        /// Stop these now: the manifest wants them STOPPED.
        public var stopNow: [String]
        /// Ask the control plane about these: the manifest does not list them.
        public var candidates: [String]
    }

    private var latestTimeline: Int64?
    private var pending: (manifestID: String, candidates: Set<String>)?

    public init() {}

    /// What to do about `manifest`; nil when it is not newer than one already seen.
    public mutating func take(_ manifest: TaskManifest, local: [LocalTask]) -> Decision? {
        if let latestTimeline, manifest.timeline <= latestTimeline { return nil }
        latestTimeline = manifest.timeline
        let listed = Dictionary(manifest.tasks.map { ($0.taskArn, $0.desiredStatus) }) { first, _ in first }
        let running = local.filter(\.running).map(\.taskArn)
        let stopNow = running.filter { listed[$0] == .stopped }
        let candidates = running.filter { listed[$0] == nil }
        pending = candidates.isEmpty ? nil : (manifest.messageID, Set(candidates))
        return Decision(stopNow: stopNow, candidates: candidates)
    }

    /// The tasks to stop now that the control plane confirmed `taskArns` for `manifestID`: those among the
    /// latest manifest's candidates; none for any other manifest.
    public mutating func confirmed(manifestID: String, taskArns: [String]) -> [String] {
        guard let pending, pending.manifestID == manifestID else { return [] }
        self.pending = nil
        return taskArns.filter { pending.candidates.contains($0) }
    }
}
