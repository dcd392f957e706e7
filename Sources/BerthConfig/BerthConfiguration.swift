public import BerthModel

/// Berth's typed configuration: ECS agent keys with the ECS agent's defaults on Linux, plus Berth's own.
///
/// Built by ``ConfigurationLoader`` from `/etc/ecs/ecs.config` and the environment.
public struct BerthConfiguration: Sendable, Hashable {
    /// `ECS_CLUSTER`: the cluster to register into.
    public var cluster: ClusterName = .default
    /// `AWS_DEFAULT_REGION`: the region in ARNs and signatures. Required: Berth has no instance metadata to ask.
    public var region: AWSRegion
    /// `ECS_BACKEND_HOST`: a remote control plane; nil runs the embedded control plane in the agent.
    public var backendHost: String?
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`: the key an agent signs its calls to a remote control
    /// plane with (required with `ECS_BACKEND_HOST`).
    public var backendAccessKeyID: String?
    public var backendSecretAccessKey: String?
    /// `BERTH_BACKEND_CA_FILE`: PEM certificates to trust for a remote control plane's TLS, instead of the
    /// system's trust store.
    public var backendCAFile: String?
    /// `DOCKER_HOST`
    public var dockerHost: DockerHost = .default
    /// `ECS_DATADIR`: where state is kept. The ECS agent's `/data/` is a container path that ecs-init
    /// mounts from `/var/lib/ecs/data`; Berth runs on the host, so it uses the host path directly.
    public var dataDirectory: String = "/var/lib/ecs/data"
    /// `ECS_CHECKPOINT`: keep state across restarts. The ECS agent defaults to true when `ECS_DATADIR`
    /// is set, which ecs-init always does; Berth defaults to true.
    public var checkpoint: Bool = true
    /// `ECS_LOGLEVEL`
    public var logLevel: LogLevel = .info
    /// `ECS_RESERVED_PORTS`: TCP host ports registered as in use.
    public var reservedPorts: [UInt16] = [22, 2375, 2376, 51678, 51679]
    /// `ECS_RESERVED_PORTS_UDP`
    public var reservedPortsUDP: [UInt16] = []
    /// `ECS_RESERVED_MEMORY`: MiB left out of the registered memory.
    public var reservedMemoryMiB: UInt16 = 0
    /// `ECS_ENGINE_AUTH_TYPE` + `ECS_ENGINE_AUTH_DATA`
    public var engineAuthentication: EngineAuthentication?
    /// `ECS_AVAILABLE_LOGGING_DRIVERS`
    public var availableLoggingDrivers: [LoggingDriver] = [.jsonFile, .none]
    /// `ECS_CONTAINER_STOP_TIMEOUT`: grace period between SIGTERM and SIGKILL (at least 1s).
    public var containerStopTimeout: Duration = .seconds(30)
    /// `ECS_CONTAINER_START_TIMEOUT` (at least 45s)
    public var containerStartTimeout: Duration = .seconds(3 * 60)
    /// `ECS_CONTAINER_CREATE_TIMEOUT` (at least 1m)
    public var containerCreateTimeout: Duration = .seconds(4 * 60)
    /// `ECS_IMAGE_PULL_BEHAVIOR`
    public var imagePullBehavior: ImagePullBehavior = .default
    /// `ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`: a pull with no progress for this long is cancelled (at least 1m).
    public var imagePullInactivityTimeout: Duration = .seconds(60)
    /// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`: how long a stopped task's containers are kept.
    public var taskCleanupWaitDuration: Duration = .seconds(3 * 3600)
    /// `ECS_DISABLE_IMAGE_CLEANUP`
    public var imageCleanupDisabled: Bool = false
    /// `ECS_IMAGE_CLEANUP_INTERVAL` (at least 10m)
    public var imageCleanupInterval: Duration = .seconds(30 * 60)
    /// `ECS_IMAGE_MINIMUM_CLEANUP_AGE`
    public var imageMinimumCleanupAge: Duration = .seconds(3600)
    /// `ECS_NUM_IMAGES_DELETE_PER_CYCLE` (at least 1)
    public var imagesDeletedPerCycle: Int = 5
    /// `ECS_INSTANCE_ATTRIBUTES`: custom attributes sent at registration, sorted by name.
    public var instanceAttributes: [Attribute] = []
    /// `ECS_DISABLE_PRIVILEGED`
    public var privilegedDisabled: Bool = false
    /// `ECS_SELINUX_CAPABLE`
    public var selinuxCapable: Bool = false
    /// `ECS_APPARMOR_CAPABLE`
    public var apparmorCapable: Bool = false
    /// `ECS_DYNAMIC_HOST_PORT_RANGE`: where dynamic host ports come from; the kernel's ephemeral range by default.
    public var dynamicHostPortRange: PortRange
    /// `BERTH_API_LISTEN`: where the embedded ECS API listens.
    public var apiListen: ListenAddress = .defaultAPI
    /// `BERTH_ACCOUNT_ID`: the account in the ARNs Berth issues.
    public var accountID: AccountID = .documentationExample
    /// BERTH_API_CREDENTIALS_FILE: access keys (the aws CLI's credentials-file format) whose SigV4
    /// signatures the ECS API requires; without it the API takes unsigned requests on loopback only.
    public var apiCredentialsFile: String?
    /// BERTH_TLS_CERTIFICATE: a PEM certificate chain; with BERTH_TLS_KEY the ECS API is served over TLS
    /// (1.2 or later) on BERTH_API_LISTEN.
    public var tlsCertificateFile: String?
    /// BERTH_TLS_KEY: the PEM private key of BERTH_TLS_CERTIFICATE.
    public var tlsKeyFile: String?
    /// BERTH_INTROSPECTION_LISTEN: the ECS agent's introspection API (`/v1/metadata`, `/v1/tasks`).
    public var introspectionListen: ListenAddress = .defaultIntrospection
    /// BERTH_TASK_METADATA_PORT: the task metadata endpoint (v3 and v4) listens on this port of Docker's bridge
    /// gateway, where task containers reach it; 0 serves none.
    public var taskMetadataPort: UInt16 = 51679
    /// `ECS_TASK_METADATA_RPS_LIMIT`: requests per second each client (a container's address) may make to the
    /// task metadata endpoint, steady and burst; more are answered 429.
    public var taskMetadataRateLimit: RequestRateLimit = .taskMetadataDefault
    /// BERTH_STOPPED_TASK_RETENTION: how long STOPPED tasks, deleted clusters, deregistered instances and
    /// INACTIVE services stay describable (at least 1h, as in ECS).
    public var stoppedTaskRetention: Duration = .seconds(3600)
    /// BERTH_INSTANCE_ID: the host's identity, stable for the host and different between hosts, shown as the
    /// container instance's `ec2InstanceId`; the host's `/etc/machine-id` when unset.
    public var instanceID: String?
    /// BERTH_AVAILABILITY_ZONE: registered as the attribute `ecs.availability-zone`, so that
    /// `spread(attribute:ecs.availability-zone)` works on one's own machines.
    public var availabilityZone: String?
    /// BERTH_INSTANCE_LOST_AFTER: how long an instance's agent may be away before the control plane counts the
    /// instance as lost and replaces its service tasks on other instances (at least 10s).
    public var instanceLostAfter: Duration = .seconds(600)
    /// BERTH_CHANNEL_HEARTBEAT_INTERVAL: the control plane heartbeats an agent's channel idle this long, and
    /// closes a channel that leaves two heartbeats unanswered (at least 1s).
    public var channelHeartbeatInterval: Duration = .seconds(20)
    /// BERTH_CHANNEL_SILENCE_TIMEOUT: a remote agent closes and reopens a channel that brought no frame for this
    /// long plus a random part of as much again (at least 1s; keep it above the control plane's heartbeat
    /// interval).
    public var channelSilenceTimeout: Duration = .seconds(60)
    /// BERTH_CHANNEL_LIFETIME: a remote agent closes every channel cleanly after this long (plus up to a sixth
    /// more) and opens another, so that agents spread over a control plane's replicas (at least 10s).
    public var channelLifetime: Duration = .seconds(1800)
    /// BERTH_DATABASE_URL: the control plane's state in PostgreSQL (shared by replicas); unset, SQLite under
    /// ECS_DATADIR.
    public var databaseURL: DatabaseURL?
    /// BERTH_ADVERTISE_URL: this replica's ECS API as agents reach it, such as https://cp-2.example:51680.
    /// Replicas that say where they are spread the agents' channels over themselves (DiscoverPollEndpoint).
    public var advertiseURL: String?

    public init(region: AWSRegion, dynamicHostPortRange: PortRange) {
        self.region = region
        self.dynamicHostPortRange = dynamicHostPortRange
    }

    /// `https` when BERTH_TLS_CERTIFICATE and BERTH_TLS_KEY are set, else `http`.
    public var apiScheme: String { tlsCertificateFile != nil && tlsKeyFile != nil ? "https" : "http" }

    /// Whether the agent runs the control plane in its own process.
    public var runsEmbeddedControlPlane: Bool { backendHost == nil }
}

extension ListenAddress {
    /// 127.0.0.1:51680: loopback only, beside the agent's introspection (51678) and task metadata (51679) ports.
    public static let defaultAPI = ListenAddress(unchecked: "127.0.0.1", port: 51680)
    public static let defaultIntrospection = ListenAddress(unchecked: "127.0.0.1", port: 51678)
}
