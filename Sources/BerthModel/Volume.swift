/// A volume of a task (`Volume` in the ECS API): a host path, a scratch space shared by the task's
/// containers, or a Docker volume.
public struct Volume: Sendable, Hashable, Codable {
    public var name: String
    /// A bind mount of `sourcePath`; with no `sourcePath`, a scratch volume that lives as long as the task.
    public var host: HostVolumeProperties?
    public var dockerVolumeConfiguration: DockerVolumeConfiguration?

    public init(
        name: String,
        host: HostVolumeProperties? = nil,
        dockerVolumeConfiguration: DockerVolumeConfiguration? = nil
    ) {
        self.name = name
        self.host = host
        self.dockerVolumeConfiguration = dockerVolumeConfiguration
    }
}

/// `host` of a volume (`HostVolumeProperties`).
public struct HostVolumeProperties: Sendable, Hashable, Codable {
    public var sourcePath: String?

    public init(sourcePath: String? = nil) {
        self.sourcePath = sourcePath
    }
}

/// A Docker volume (`DockerVolumeConfiguration`).
public struct DockerVolumeConfiguration: Sendable, Hashable, Codable {
    /// `task`: created for the task and removed with it; `shared`: named as the volume, kept.
    public var scope: VolumeScope?
    /// Create a shared volume when it does not exist.
    public var autoprovision: Bool?
    public var driver: String?
    public var driverOpts: [String: String]?
    public var labels: [String: String]?

    public init(
        scope: VolumeScope? = nil,
        autoprovision: Bool? = nil,
        driver: String? = nil,
        driverOpts: [String: String]? = nil,
        labels: [String: String]? = nil
    ) {
        self.scope = scope
        self.autoprovision = autoprovision
        self.driver = driver
        self.driverOpts = driverOpts
        self.labels = labels
    }
}

/// The life of a Docker volume (`Scope`).
public enum VolumeScope: String, Sendable, Hashable, CaseIterable, Codable {
    case task
    case shared
}
