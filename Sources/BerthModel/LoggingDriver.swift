/// A Docker logging driver a container may use (`logConfiguration.logDriver` in a task definition).
///
/// The ECS API's `LogDriver` enum names eight drivers; the ECS agent additionally knows `logentries`,
/// `sumologic` and `none` when it validates `ECS_AVAILABLE_LOGGING_DRIVERS`, so all eleven are here.
public enum LoggingDriver: String, Sendable, Hashable, CaseIterable, Codable {
    case jsonFile = "json-file"
    case syslog
    case journald
    case gelf
    case fluentd
    case awslogs
    case splunk
    case awsfirelens
    case logentries
    case sumologic
    case none
}
