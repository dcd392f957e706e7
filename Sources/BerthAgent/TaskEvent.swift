public import BerthModel

/// Something that happened to a task: the result of a Docker call the agent made, what Docker reported on
/// its own, a decision of the control plane, or the passing of time. ``TaskStateMachine`` applies them.
public enum TaskEvent: Sendable, Hashable {
    /// The host's resources were granted. Carries the host ports chosen for dynamic port mappings, by
    /// container name and then `containerPort/protocol`.
    case admitted(hostPorts: [String: [String: Int]])
    /// The control plane wants the task stopped.
    case stopRequested(reason: String?, code: TaskStopCode?)
    case volumeReady(taskVolume: String)
    case volumeFailed(taskVolume: String, reason: String)
    case pulled(container: String, digest: String?, imageID: String?)
    /// `stopsTask`: the pull behaviour makes any failed pull fatal to the task (`always`, `once`).
    case pullFailed(container: String, reason: String, stopsTask: Bool)
    case created(container: String, dockerID: String)
    case createFailed(container: String, reason: String)
    case started(container: String, ContainerObservation)
    case startFailed(container: String, reason: String)
    case stopped(container: String, ContainerObservation)
    /// The stop call failed and may be retried (dockerd busy or unreachable).
    case stopFailed(container: String, reason: String)
    /// What Docker reports about a container on its own: an event, a periodic check, recovery.
    case observed(container: String, ContainerObservation)
    /// The control plane recorded every change up to this sequence number.
    case acknowledged(sequence: Int)
    /// The task's containers and volumes are gone from the host.
    case cleanedUp
    case cleanupFailed(reason: String)
    /// Time passed: deadlines (dependency timeouts, retries, cleanup) may have come.
    case tick
}

/// What Docker says about a container.
public enum ContainerObservation: Sendable, Hashable {
    /// It exists and never ran.
    case created(dockerID: String)
    case running(dockerID: String, bindings: [NetworkBinding], health: HealthStatus?, startedAt: Timestamp?)
    /// It ran and exited (or died); `reason` says why when it was not its own doing (out of memory).
    case exited(dockerID: String, exitCode: Int?, reason: String?, finishedAt: Timestamp?)
    /// Its health check changed while it runs.
    case health(HealthStatus)
    /// The kernel killed a process of it for exceeding its memory limit (Docker's `oom` event, which can
    /// come after the exit).
    case outOfMemory
    /// Docker has no such container.
    case missing
}

/// A Docker call the agent is to make for a task. The record is saved before it is made.
public enum TaskAction: Sendable, Hashable {
    case createVolume(DockerVolumeRecord)
    case pull(container: String, image: String)
    case create(container: String)
    case start(container: String, dockerID: String)
    case stop(container: String, dockerID: String, timeout: Duration)
    /// Remove the task's containers and task-scoped volumes.
    case cleanUp
}
