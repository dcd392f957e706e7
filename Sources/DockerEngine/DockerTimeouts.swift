/// How long each kind of call may take before it fails with ``DockerError/Code/timeout``. No call waits
/// forever: streams that have no natural end (events) are the caller's to cancel, and pulls fail after a
/// period without progress instead.
///
/// The defaults are the ECS agent's (`agent/dockerclient/timeout.go`).
public struct DockerTimeouts: Sendable, Hashable {
    /// `_ping`, `version`, `info`.
    public var system: Duration = .seconds(10)
    /// Inspecting a container, an image or a volume.
    public var inspect: Duration = .seconds(30)
    /// Listing containers or images.
    public var list: Duration = .seconds(10 * 60)
    /// Creating a container (`ECS_CONTAINER_CREATE_TIMEOUT`).
    public var create: Duration = .seconds(4 * 60)
    /// Starting a container (`ECS_CONTAINER_START_TIMEOUT`).
    public var start: Duration = .seconds(3 * 60)
    /// Added to a stop's grace period: dockerd may take a while to reap a container after SIGKILL.
    public var stopBeyondGracePeriod: Duration = .seconds(2 * 60)
    /// Sending a signal.
    public var kill: Duration = .seconds(30)
    /// Removing a container.
    public var removeContainer: Duration = .seconds(5 * 60)
    /// Removing an image.
    public var removeImage: Duration = .seconds(3 * 60)
    /// Tagging an image.
    public var tagImage: Duration = .seconds(30)
    /// Creating, inspecting or removing a volume.
    public var volume: Duration = .seconds(5 * 60)
    /// A pull's wait for its first byte and between progress messages, when the caller gives none.
    public var pullInactivity: Duration = .seconds(60)

    public init() {}
}
