import BerthConfig
import Foundation
import Testing

@Suite("BERTH_DATABASE_URL")
struct DatabaseURLTests {
    @Test("libpq's URL forms: TCP with a port and sslmode, a Unix socket directory, percent-encoded credentials")
    func forms() throws {
        let tcp = try DatabaseURL.parse("postgres://berth:s%40cret@db.example:6432/cluster?sslmode=verify-full").get()
        #expect(tcp.endpoint == .tcp(host: "db.example", port: 6432))
        #expect(tcp.user == "berth")
        #expect(tcp.password == "s@cret")
        #expect(tcp.database == "cluster")
        #expect(tcp.tlsMode == .verifyFull)

        let defaults = try DatabaseURL.parse("postgresql://berth@10.0.0.7/berth").get()
        #expect(defaults.endpoint == .tcp(host: "10.0.0.7", port: 5432))
        #expect(defaults.password == nil)
        #expect(defaults.tlsMode == .prefer)

        let socket = try DatabaseURL.parse("postgres://berth@/berth?host=/var/run/postgresql&port=5433&sslmode=disable")
            .get()
        #expect(socket.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5433"))

        let rooted = try DatabaseURL.parse("postgres://u:p@h/d?sslmode=verify-ca&sslrootcert=/etc/ecs/db-ca.pem").get()
        #expect(rooted.rootCertificateFile == "/etc/ecs/db-ca.pem")
        #expect(rooted.tlsMode == .verifyCA)
    }

    @Test("shown without its password, in a form that reads back the same")
    func redacted() throws {
        for text in [
            "postgres://berth:hunter2-secret@db.example:6432/cluster?sslmode=require",
            "postgres://berth:hunter2-secret@/berth?host=/run/pg&port=5432&sslmode=disable",
        ] {
            let url = try DatabaseURL.parse(text).get()
            #expect(!url.description.contains("hunter2"))
            #expect(url.description.contains("berth:<redacted>@"))
            var shown = try DatabaseURL.parse(url.description.replacingOccurrences(of: "<redacted>", with: "x")).get()
            shown.password = url.password
            #expect(shown == url)
        }
    }

    @Test(
        "what is wrong is named",
        arguments: [
            ("mysql://u:p@h/d", "scheme must be postgres"),
            ("postgres://h/d", "names no user"),
            ("postgres://u:p@h", "names no database"),
            ("postgres://u:p@h/d?sslmode=always", "sslmode=always is not one of"),
            ("postgres://u:p@h/d?connect_timeout=3", "connect_timeout is not understood"),
            ("postgres://u:p@h:70000/d", "port 70000"),
            ("postgres://u:p@/d?host=relative", "socket directory"),
            ("postgres://u:p@/d?host=/run/pg&sslmode=require", "a Unix socket carries no TLS"),
            ("postgres://u:p@/d", "names no host"),
        ]
    )
    func errors(text: String, expected: String) {
        guard case .failure(let error) = DatabaseURL.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(error.description.contains(expected), "\(error)")
        #expect(!error.description.contains(":p@"), "the password is never quoted: \(error)")
    }
}
