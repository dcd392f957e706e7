import BerthConfig
import BerthModel
import PropertyBased

/// Loads a configuration from file text and an environment; the kernel range is fixed so results do not
/// depend on the machine.
func load(_ file: String?, environment: [String: String] = [:]) throws(ConfigurationError) -> LoadedConfiguration {
    try ConfigurationLoader.load(
        fileText: file,
        path: "/etc/ecs/ecs.config",
        environment: environment,
        kernelEphemeralPortRange: kernelRange
    )
}

/// Like ``load(_:environment:)`` with the region the loader requires already set.
func loadWithRegion(
    _ file: String,
    environment: [String: String] = [:]
) throws(ConfigurationError) -> LoadedConfiguration {
    try load("AWS_DEFAULT_REGION=us-east-1\n" + file, environment: environment)
}

let kernelRange: PortRange = {
    guard let range = try? PortRange(start: 32768, end: 60999) else { preconditionFailure("valid range") }
    return range
}()

/// The one warning about `key`, as text.
func warning(about key: ConfigurationKey, in loaded: LoadedConfiguration) -> String? {
    loaded.warnings.first(where: { $0.key == key.rawValue })?.description
}

/// The errors a configuration is refused with, as text.
func errors(_ file: String?, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try load(file, environment: environment)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// A generator of characters drawn from `alphabet` (shrinking towards its first character).
func characters(from alphabet: String) -> Generator<Character, Shrink.Integer<Int>> {
    let characters = Array(alphabet)
    return Gen<Int>.int(in: 0...(characters.count - 1)).map { characters[$0] }
}
