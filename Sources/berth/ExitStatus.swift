/// The exit codes Berth uses, following the ECS agent's conventions.
enum ExitStatus {
    /// A terminal configuration error: restarting will not help (systemd's RestartPreventExitStatus=5).
    static let terminalConfiguration: Int32 = 5
    /// dockerd could not be reached or speaks no usable API version.
    static let dockerUnavailable: Int32 = 1
}
