public import BerthConfig
public import Foundation

/// A PostgreSQL server of one test's own, for tests that stop and start it: initdb into a new directory
/// under /tmp, listening only on a Unix socket there, run as user postgres (the server refuses root), with
/// the database `berth`. The tests' shared server (TestDatabase) is never stopped.
public final class PrivatePostgresServer: Sendable {
    public let directory: URL
    static let bin = "/usr/lib/postgresql/15/bin"

    private init(directory: URL) {
        self.directory = directory
    }

    public static func start() async throws -> PrivatePostgresServer {
        let directory = URL(fileURLWithPath: "/tmp/berth-pg-\(UUID().uuidString.prefix(8).lowercased())")
        let server = PrivatePostgresServer(directory: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await server.run("/usr/bin/chown", ["postgres:postgres", directory.path])
        try await server.asPostgres(
            "\(bin)/initdb",
            ["-D", "\(directory.path)/data", "-U", "berth", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        try await server.start()
        try await server.run(
            "/usr/bin/createdb",
            ["-h", directory.path, "-p", "5432", "-U", "berth", "berth"]
        )
        return server
    }

    public var url: DatabaseURL {
        DatabaseURL(
            endpoint: .unixSocket(path: "\(directory.path)/.s.PGSQL.5432"),
            user: "berth",
            password: nil,
            database: "berth",
            tlsMode: .disable
        )
    }

    /// The BERTH_DATABASE_URL line for a configuration file.
    public var configurationLine: String {
        "BERTH_DATABASE_URL=postgres://berth@/berth?host=\(directory.path)&port=5432&sslmode=disable"
    }

    /// Starts the server as a child of this process (not daemonized by pg_ctl), its output in
    /// `server.log`, and waits until it answers.
    public func start() async throws {
        let path = directory.path
        let log = directory.appendingPathComponent("server.log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        process.arguments = [
            "-u", "postgres", "--", "\(Self.bin)/postgres", "-D", "\(path)/data", "-c", "listen_addresses=",
            "-k", path, "-p", "5432",
            // A crash of the server process loses nothing written to the OS; fsync only guards against the
            // machine's, and fsync storms may stall dockerd beside the tests.
            "-c", "fsync=off", "-c", "full_page_writes=off",
        ]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + TestEnvironment.loadedWait
        while clock.now < deadline {
            let ready = try await offThePool {
                try ChildProcess.run(
                    URL(fileURLWithPath: "\(Self.bin)/pg_isready"),
                    ["-q", "-h", path, "-p", "5432"]
                )
            }
            if ready.status == 0 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw TestDatabaseError(description: "the test's PostgreSQL did not start:\n\(text.suffix(2000))")
    }

    /// Stops the server; `immediately` is a crash as far as the data is concerned (no checkpoint: the next
    /// start recovers from the write-ahead log).
    public func stop(immediately: Bool) async throws {
        try await asPostgres(
            "\(Self.bin)/pg_ctl",
            ["-D", "\(directory.path)/data", "-m", immediately ? "immediate" : "fast", "-w", "stop"]
        )
    }

    /// Stops the server if it runs, and removes its directory.
    public func remove() async {
        try? await stop(immediately: true)
        try? FileManager.default.removeItem(at: directory)
    }

    private func asPostgres(_ tool: String, _ arguments: [String]) async throws {
        try await run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
    }

    private func run(_ tool: String, _ arguments: [String]) async throws {
        let result = try await offThePool { try ChildProcess.run(URL(fileURLWithPath: tool), arguments) }
        guard result.status == 0 else {
            throw TestDatabaseError(
                description:
                    "\(tool) \(arguments.joined(separator: " ")): \(result.standardError)\(result.standardOutput)"
            )
        }
    }
}
