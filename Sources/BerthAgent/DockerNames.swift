public import BerthModel

/// How the agent names what it creates in Docker, as the ECS agent does: `ecs-FAMILY-REVISION-NAME-HEX`,
/// the name keeping only letters, digits and hyphens. The random part makes names unique across tasks of
/// one revision; the agent saves a name before creating under it, so a crash never leaves a container it
/// cannot find again.
public enum DockerNames {
    public static func container(_ task: TaskPayload, _ name: String, _ suffix: String) -> String {
        "ecs-\(sanitized(task.family))-\(task.revision)-\(sanitized(name))-\(suffix)"
    }

    public static func volume(_ task: TaskPayload, _ name: String, _ suffix: String) -> String {
        "ecs-\(sanitized(task.family))-\(task.revision)-\(sanitized(name))-\(suffix)"
    }

    /// Twenty random hex digits.
    @Sendable public static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<20).map { _ in digits[Int(generator.next() % 16)] })
    }

    static func sanitized(_ text: String) -> String {
        String(text.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
    }
}
