public import BerthConfig
import Foundation

/// A database of a test's own on the tests' PostgreSQL server, made with `createdb` and dropped with
/// `dropdb --force` (which ends its sessions first).
public struct TestDatabase: Sendable {
    public let name: String

    public var url: DatabaseURL {
        DatabaseURL(
            endpoint: .unixSocket(
                path: "\(TestEnvironment.postgresSocketDirectory)/.s.PGSQL.\(TestEnvironment.postgresPort)"
            ),
            user: "berth",
            password: nil,
            database: name,
            tlsMode: .disable
        )
    }

    /// The BERTH_DATABASE_URL line for a configuration file.
    public var configurationLine: String {
        "BERTH_DATABASE_URL=postgres://berth@/\(name)?host=\(TestEnvironment.postgresSocketDirectory)"
            + "&port=\(TestEnvironment.postgresPort)&sslmode=disable"
    }

    public static func create() async throws -> TestDatabase {
        let database = TestDatabase(name: "berth_test_\(UUID().uuidString.prefix(12).lowercased())")
        try await database.run("/usr/bin/createdb", [database.name])
        return database
    }

    public func drop() async {
        try? await run("/usr/bin/dropdb", ["--force", "--if-exists", name])
    }

    private func run(_ tool: String, _ arguments: [String]) async throws {
        let result = try await offThePool {
            try ChildProcess.run(
                URL(fileURLWithPath: tool),
                [
                    "-h", TestEnvironment.postgresSocketDirectory, "-p", "\(TestEnvironment.postgresPort)", "-U",
                    "berth",
                ] + arguments
            )
        }
        guard result.status == 0 else {
            throw TestDatabaseError(description: "\(tool) \(arguments.joined(separator: " ")): \(result.standardError)")
        }
    }
}

public struct TestDatabaseError: Error, CustomStringConvertible {
    public let description: String
}
