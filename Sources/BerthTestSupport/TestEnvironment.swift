public import DockerEngine
import Foundation

/// What `make test` sets up (scripts/test-environment.sh): dockerd on its default socket, a local image,
/// and two registries on loopback holding it, one open and one behind htpasswd basic auth.
/// The environment can point elsewhere; the defaults match the script.
public enum TestEnvironment {
    public static func value(_ name: String, default fallback: String) -> String {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    public static let dockerSocket = value("BERTH_TEST_DOCKER_SOCKET", default: "/var/run/docker.sock")
    public static let localImage = value("BERTH_TEST_IMAGE", default: "berth-test/busybox:latest")
    public static let openRegistry = value("BERTH_TEST_REGISTRY", default: "127.0.0.1:51670")
    public static let authRegistry = value("BERTH_TEST_AUTH_REGISTRY", default: "127.0.0.1:51671")
    public static let registryUser = value("BERTH_TEST_REGISTRY_USER", default: "berth-test")
    public static let registryPassword = value("BERTH_TEST_REGISTRY_PASSWORD", default: "berth-test-password")

    public static var openRegistryImage: String { "\(openRegistry)/berth/busybox:latest" }
    public static var authRegistryImage: String { "\(authRegistry)/berth/busybox:latest" }

    /// The test image under a suite's own repository (`agent-busybox`, `api-busybox`; see the script), so
    /// a suite that pulls and removes it never races another suite doing the same.
    public static func image(in registry: String, repository: String) -> String {
        "\(registry)/berth/\(repository):latest"
    }

    /// How long a test waits for anything dockerd or a child process does. All suites run at once against
    /// one dockerd, so on CI's two cores a single create or start has taken over 30 s; a wait this long
    /// only delays a failure, never a pass.
    public static let loadedWait: Duration = .seconds(180)

    /// The tests' PostgreSQL server (scripts/test-postgres.sh): its socket directory and port, role `berth`.
    public static let postgresSocketDirectory = value(
        "BERTH_TEST_POSTGRES_SOCKETS",
        default: "/run/berth-test/postgres"
    )
    public static let postgresPort = Int(value("BERTH_TEST_POSTGRES_PORT", default: "51672")) ?? 51672

    public static var credentials: RegistryAuth {
        RegistryAuth(username: registryUser, password: registryPassword, serverAddress: authRegistry)
    }
}
