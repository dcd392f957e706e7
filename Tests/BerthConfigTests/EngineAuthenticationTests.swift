import BerthConfig
import Foundation
import Testing

@Suite("Registry credentials")
struct EngineAuthenticationTests {
    @Test("docker format, looked up by the image's registry")
    func dockerFormat() throws {
        let authentication = try EngineAuthentication(
            type: .docker,
            data: #"""
                {"https://index.docker.io/v1/":{"username":"hub","password":"p1","email":"a@b.c"},
                 "127.0.0.1:51671":{"username":"berth","password":"p2"},
                 "registry.example.com/team":{"username":"team","password":"p3"},
                 "http://registry.example.com/":{"username":"all","password":"p4"}}
                """#
        )
        #expect(
            authentication.registries == [
                "127.0.0.1:51671", "index.docker.io", "registry.example.com", "registry.example.com/team",
            ]
        )
        #expect(authentication.credentials(forImage: "busybox")?.credentials.username == "hub")
        #expect(authentication.credentials(forImage: "docker.io/library/busybox:1")?.credentials.username == "hub")
        #expect(
            authentication.credentials(forImage: "127.0.0.1:51671/berth/busybox:latest")?.credentials.password == "p2"
        )
        #expect(
            authentication.credentials(forImage: "registry.example.com/team/app@sha256:abc")?.credentials.username
                == "team"
        )
        #expect(authentication.credentials(forImage: "registry.example.com/other/app")?.credentials.username == "all")
        #expect(
            authentication.credentials(forImage: "registry.example.com/teamwork/app")?.credentials.username == "all"
        )
        #expect(authentication.credentials(forImage: "127.0.0.1:51670/berth/busybox") == nil)
    }

    @Test("dockercfg format decodes base64 user:password, keeping colons in the password")
    func dockercfgFormat() throws {
        let auth = Data("berth:pa:ss".utf8).base64EncodedString()
        let authentication = try EngineAuthentication(
            type: .dockercfg,
            data: #"{"127.0.0.1:51671":{"auth":"\#(auth)"}}"#
        )
        let credentials = try #require(authentication.credentials(forImage: "127.0.0.1:51671/x")?.credentials)
        #expect(credentials.username == "berth")
        #expect(credentials.password == "pa:ss")
        #expect("\(credentials)" == "RegistryCredentials(<redacted>)")
        #expect(String(reflecting: credentials) == "RegistryCredentials(<redacted>)")
        #expect(!String(describing: authentication).contains("pa:ss"))
    }

    @Test(
        "malformed data is refused with a message naming the registry, not the secret",
        arguments: [
            (
                EngineAuthentication.AuthType.docker, "[]",
                #"not a JSON object; expected {"REGISTRY":{"username":"USER","password":"PASSWORD"}}"#
            ),
            (.docker, #"{"r":{"username":"u"}}"#, "registry 'r' needs string username and password"),
            (
                .docker, #"{"r":"u:p"}"#,
                #"registry 'r' is not a JSON object; expected {"REGISTRY":{"username":"USER","password":"PASSWORD"}}"#
            ),
            (
                .dockercfg, #"{"r":{"auth":"not base64!"}}"#,
                "registry 'r': auth must be the base64 encoding of USER:PASSWORD"
            ),
            (
                .dockercfg, #"{"r":{"auth":"bm9jb2xvbg=="}}"#,
                "registry 'r': auth must be the base64 encoding of USER:PASSWORD"
            ),
        ]
    )
    func malformed(type: EngineAuthentication.AuthType, data: String, message: String) {
        #expect(throws: ConfigurationError.self) { try EngineAuthentication(type: type, data: data) }
        do {
            _ = try EngineAuthentication(type: type, data: data)
        } catch {
            #expect(error.message == message)
        }
    }
}
