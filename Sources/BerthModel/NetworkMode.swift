/// How a task's containers are networked (`NetworkMode`). Berth runs `bridge` (the default on Linux),
/// `host` and `none`; `awsvpc` needs elastic network interfaces a host without AWS does not have.
public enum NetworkMode: String, Sendable, Hashable, CaseIterable, Codable {
    case bridge
    case host
    case none
    case awsvpc
}
