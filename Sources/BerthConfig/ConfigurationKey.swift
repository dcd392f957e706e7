/// Every configuration key Berth reads, in the order `berth check-config` prints them.
public enum ConfigurationKey: String, Sendable, Hashable, CaseIterable {
    case cluster = "ECS_CLUSTER"
    case region = "AWS_DEFAULT_REGION"
    case backendHost = "ECS_BACKEND_HOST"
    case dockerHost = "DOCKER_HOST"
    case dataDirectory = "ECS_DATADIR"
    case checkpoint = "ECS_CHECKPOINT"
    case logLevel = "ECS_LOGLEVEL"
    case reservedPorts = "ECS_RESERVED_PORTS"
    case reservedPortsUDP = "ECS_RESERVED_PORTS_UDP"
    case reservedMemory = "ECS_RESERVED_MEMORY"
    case engineAuthType = "ECS_ENGINE_AUTH_TYPE"
    case engineAuthData = "ECS_ENGINE_AUTH_DATA"
    case availableLoggingDrivers = "ECS_AVAILABLE_LOGGING_DRIVERS"
    case containerStopTimeout = "ECS_CONTAINER_STOP_TIMEOUT"
    case containerStartTimeout = "ECS_CONTAINER_START_TIMEOUT"
    case containerCreateTimeout = "ECS_CONTAINER_CREATE_TIMEOUT"
    case imagePullBehavior = "ECS_IMAGE_PULL_BEHAVIOR"
    case imagePullInactivityTimeout = "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT"
    case taskCleanupWaitDuration = "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION"
    case imageCleanupDisabled = "ECS_DISABLE_IMAGE_CLEANUP"
    case imageCleanupInterval = "ECS_IMAGE_CLEANUP_INTERVAL"
    case imageMinimumCleanupAge = "ECS_IMAGE_MINIMUM_CLEANUP_AGE"
    case imagesDeletedPerCycle = "ECS_NUM_IMAGES_DELETE_PER_CYCLE"
    case instanceAttributes = "ECS_INSTANCE_ATTRIBUTES"
    case privilegedDisabled = "ECS_DISABLE_PRIVILEGED"
    case selinuxCapable = "ECS_SELINUX_CAPABLE"
    case apparmorCapable = "ECS_APPARMOR_CAPABLE"
    case dynamicHostPortRange = "ECS_DYNAMIC_HOST_PORT_RANGE"
    case apiListen = "BERTH_API_LISTEN"
    case accountID = "BERTH_ACCOUNT_ID"
    case apiCredentialsFile = "BERTH_API_CREDENTIALS_FILE"
    case tlsCertificate = "BERTH_TLS_CERTIFICATE"
    case tlsKey = "BERTH_TLS_KEY"
    case introspectionListen = "BERTH_INTROSPECTION_LISTEN"
    case taskMetadataPort = "BERTH_TASK_METADATA_PORT"
    case taskMetadataRateLimit = "ECS_TASK_METADATA_RPS_LIMIT"
    case stoppedTaskRetention = "BERTH_STOPPED_TASK_RETENTION"
    case instanceID = "BERTH_INSTANCE_ID"
    case availabilityZone = "BERTH_AVAILABILITY_ZONE"
    case instanceLostAfter = "BERTH_INSTANCE_LOST_AFTER"
    case channelHeartbeatInterval = "BERTH_CHANNEL_HEARTBEAT_INTERVAL"
    case channelSilenceTimeout = "BERTH_CHANNEL_SILENCE_TIMEOUT"
    case channelLifetime = "BERTH_CHANNEL_LIFETIME"
    case accessKeyID = "AWS_ACCESS_KEY_ID"
    case secretAccessKey = "AWS_SECRET_ACCESS_KEY"
    case backendCAFile = "BERTH_BACKEND_CA_FILE"
    case databaseURL = "BERTH_DATABASE_URL"
    case advertiseURL = "BERTH_ADVERTISE_URL"

    /// Keys whose values are credentials: never printed, logged or quoted in a diagnostic.
    public var isSecret: Bool { self == .engineAuthData || self == .secretAccessKey || self == .databaseURL }

    /// Settings of the Amazon ECS agent that Berth does not implement. Naming one is not a typo, so it gets
    /// a milder warning than an unknown key.
    public static let ecsAgentKeysNotImplemented: Set<String> = [
        "ECS_AGENT_CONFIG_FILE_PATH", "ECS_AGENT_HEALTHCHECK_HOST", "ECS_AGENT_LABELS", "ECS_AGENT_APPARMOR_PROFILE",
        "ECS_AGENT_PID_NAMESPACE_HOST", "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS", "ECS_ALTERNATE_CREDENTIAL_PROFILE",
        "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", "ECS_AWSVPC_BLOCK_IMDS", "ECS_CGROUP_CPU_PERIOD", "ECS_CGROUP_PATH",
        "ECS_CNI_PLUGINS_PATH", "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "ECS_CONTAINER_INSTANCE_TAGS",
        "ECS_DISABLE_DOCKER_HEALTH_CHECK", "ECS_DISABLE_METRICS", "ECS_EBSTA_SUPPORTED",
        "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "ECS_ENABLE_CONTAINER_METADATA", "ECS_ENABLE_GPU_SUPPORT",
        "ECS_ENABLE_HIGH_DENSITY_ENI", "ECS_ENABLE_PROMETHEUS_METRICS", "ECS_ENABLE_RUNTIME_STATS",
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING", "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "ECS_ENABLE_TASK_ENI",
        "ECS_ENABLE_TASK_IAM_ROLE", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP",
        "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "ECS_EXCLUDE_IPV6_PORTBINDING", "ECS_EXCLUDE_UNTRACKED_IMAGE",
        "ECS_EXTERNAL", "ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED", "ECS_GMSA_SUPPORTED", "ECS_HOST_DATA_DIR",
        "ECS_IMAGE_PULL_TIMEOUT", "ECS_INIT_DOCKER_LOG_FILE_NUM", "ECS_INIT_DOCKER_LOG_FILE_SIZE", "ECS_LOGFILE",
        "ECS_LOGLEVEL_ON_INSTANCE", "ECS_LOG_DRIVER", "ECS_LOG_MAX_FILE_SIZE_MB", "ECS_LOG_MAX_ROLL_COUNT",
        "ECS_LOG_OPTS", "ECS_LOG_OUTPUT_FORMAT", "ECS_LOG_ROLLOVER_TYPE", "ECS_MANIFEST_PULL_TIMEOUT",
        "ECS_NVIDIA_RUNTIME", "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME", "ECS_POLLING_METRICS_WAIT_DURATION",
        "ECS_POLL_METRICS", "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "ECS_SHARED_VOLUME_MATCH_FULL_CONFIG",
        "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER", "ECS_TASK_PIDS_LIMIT",
        "ECS_UPDATES_ENABLED", "ECS_UPDATE_DOWNLOAD_DIR", "ECS_VOLUME_PLUGIN_CAPABILITIES", "ECS_WARM_POOLS_CHECK",
        "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE",
    ]

    /// The known key closest to a mistyped one, when it is close enough to be a likely typo.
    public static func suggestion(for unknownKey: String) -> ConfigurationKey? {
        let upper = unknownKey.uppercased()
        var best: (key: ConfigurationKey, distance: Int)?
        for key in allCases {
            let distance = editDistance(upper, key.rawValue)
            if distance < (best?.distance ?? Int.max) { best = (key, distance) }
        }
        // A typo changes a few characters; allow more for long names.
        guard let best, best.distance <= max(2, best.key.rawValue.count / 6) else { return nil }
        return best.key
    }

    /// Levenshtein distance over characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
