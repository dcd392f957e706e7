import BerthModel

/// The effective configuration as `berth check-config` prints it: one `KEY=VALUE` line per key in the
/// file's own syntax, each with where its value came from. Secrets are replaced by a summary.
public enum ConfigurationReport {
    public static func render(_ loaded: LoadedConfiguration) -> String {
        let configuration = loaded.configuration
        var lines: [String] = []
        if let path = loaded.filePath {
            lines.append("# Effective configuration: \(path), overridden by the environment")
        } else {
            lines.append("# Effective configuration: \(loaded.requestedPath) not found; environment and defaults")
        }
        let rows = ConfigurationKey.allCases.map { key in
            (assignment: "\(key.rawValue)=\(value(of: key, in: configuration))", origin: loaded.origin(of: key))
        }
        let width = rows.map(\.assignment.count).max() ?? 0
        for row in rows {
            let padding = String(repeating: " ", count: width - row.assignment.count)
            lines.append("\(row.assignment)\(padding)  # \(row.origin)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The value of `key` written as it would be in the file; for a secret, a summary without its content.
    public static func value(of key: ConfigurationKey, in configuration: BerthConfiguration) -> String {
        switch key {
        case .cluster: configuration.cluster.value
        case .region: configuration.region.name
        case .backendHost: configuration.backendHost ?? ""
        case .dockerHost: configuration.dockerHost.description
        case .dataDirectory: configuration.dataDirectory
        case .checkpoint: "\(configuration.checkpoint)"
        case .logLevel: configuration.logLevel.rawValue
        case .reservedPorts: ValueReader.json(configuration.reservedPorts)
        case .reservedPortsUDP: ValueReader.json(configuration.reservedPortsUDP)
        case .reservedMemory: "\(configuration.reservedMemoryMiB)"
        case .engineAuthType: configuration.engineAuthentication?.type.rawValue ?? ""
        case .engineAuthData:
            configuration.engineAuthentication.map {
                "<redacted: credentials for \($0.registries.joined(separator: ", "))>"
            } ?? ""
        case .availableLoggingDrivers: ValueReader.json(configuration.availableLoggingDrivers.map(\.rawValue))
        case .containerStopTimeout: GoDuration.format(configuration.containerStopTimeout)
        case .containerStartTimeout: GoDuration.format(configuration.containerStartTimeout)
        case .containerCreateTimeout: GoDuration.format(configuration.containerCreateTimeout)
        case .imagePullBehavior: configuration.imagePullBehavior.rawValue
        case .imagePullInactivityTimeout: GoDuration.format(configuration.imagePullInactivityTimeout)
        case .taskCleanupWaitDuration: GoDuration.format(configuration.taskCleanupWaitDuration)
        case .imageCleanupDisabled: "\(configuration.imageCleanupDisabled)"
        case .imageCleanupInterval: GoDuration.format(configuration.imageCleanupInterval)
        case .imageMinimumCleanupAge: GoDuration.format(configuration.imageMinimumCleanupAge)
        case .imagesDeletedPerCycle: "\(configuration.imagesDeletedPerCycle)"
        case .instanceAttributes:
            ValueReader.json(
                Dictionary(configuration.instanceAttributes.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            )
        case .privilegedDisabled: "\(configuration.privilegedDisabled)"
        case .selinuxCapable: "\(configuration.selinuxCapable)"
        case .apparmorCapable: "\(configuration.apparmorCapable)"
        case .dynamicHostPortRange: configuration.dynamicHostPortRange.description
        case .apiListen: configuration.apiListen.description
        case .accountID: configuration.accountID.digits
        case .apiCredentialsFile: configuration.apiCredentialsFile ?? ""
        case .tlsCertificate: configuration.tlsCertificateFile ?? ""
        case .tlsKey: configuration.tlsKeyFile ?? ""
        case .introspectionListen: configuration.introspectionListen.description
        case .taskMetadataPort: "\(configuration.taskMetadataPort)"
        case .taskMetadataRateLimit: configuration.taskMetadataRateLimit.description
        case .stoppedTaskRetention: GoDuration.format(configuration.stoppedTaskRetention)
        case .instanceID: configuration.instanceID ?? ""
        case .availabilityZone: configuration.availabilityZone ?? ""
        case .instanceLostAfter: GoDuration.format(configuration.instanceLostAfter)
        case .channelHeartbeatInterval: GoDuration.format(configuration.channelHeartbeatInterval)
        case .channelSilenceTimeout: GoDuration.format(configuration.channelSilenceTimeout)
        case .channelLifetime: GoDuration.format(configuration.channelLifetime)
        case .accessKeyID: configuration.backendAccessKeyID ?? ""
        case .secretAccessKey: configuration.backendSecretAccessKey == nil ? "" : "<redacted>"
        case .backendCAFile: configuration.backendCAFile ?? ""
        case .databaseURL: configuration.databaseURL?.description ?? ""
        case .advertiseURL: configuration.advertiseURL ?? ""
        }
    }
}
