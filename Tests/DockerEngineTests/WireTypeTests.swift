import Foundation
import NIOCore
import PropertyBased
import Testing

@testable import DockerEngine

@Suite("Wire types")
struct WireTypeTests {
    @Test(
        "image references split as Docker splits them",
        arguments: [
            ("busybox", nil, "busybox", "latest", nil),
            ("busybox:1.36", nil, "busybox", "1.36", nil),
            ("library/busybox", nil, "library/busybox", "latest", nil),
            ("127.0.0.1:51670/berth/busybox", "127.0.0.1:51670", "berth/busybox", "latest", nil),
            ("127.0.0.1:51670/berth/busybox:v2", "127.0.0.1:51670", "berth/busybox", "v2", nil),
            ("localhost/app", "localhost", "app", "latest", nil),
            ("registry.example.com/team/app@sha256:abc", "registry.example.com", "team/app", nil, "sha256:abc"),
            ("registry.example.com/team/app:1@sha256:abc", "registry.example.com", "team/app", "1", "sha256:abc"),
        ] as [(String, String?, String, String?, String?)]
    )
    func imageReferences(text: String, registry: String?, path: String, tag: String?, digest: String?) throws {
        let reference = try #require(ImageReference(text))
        #expect(reference.registry == registry)
        #expect(reference.path == path)
        #expect(reference.tag == tag)
        #expect(reference.digest == digest)
    }

    @Test(
        "malformed references are refused",
        arguments: ["", "a b", "app:", "registry.example.com/", "app@nodigest", "/app"]
    )
    func badReferences(text: String) {
        #expect(ImageReference(text) == nil)
    }

    @Test("container ports", arguments: [("80/tcp", 80, "tcp"), ("53/udp", 53, "udp"), ("8080", 8080, "tcp")])
    func containerPorts(text: String, number: UInt16, transport: String) throws {
        let port = try #require(ContainerPort(text))
        #expect(port.number == number)
        #expect(port.transport == transport)
        #expect(ContainerPort("x/tcp") == nil)
        #expect(ContainerPort("70000/tcp") == nil)
    }

    @Test("event times keep nanoseconds in the form dockerd parses")
    func eventTimes() {
        #expect(DockerEventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_123).description == "1700000000.000000123")
        #expect(DockerEventTime(secondsSinceEpoch: 5).description == "5.000000000")
    }

    @Test("the line splitter yields the same messages for any chunking")
    func lineSplitter() async {
        let messages = (0..<12).map { #"{"n":\#($0),"pad":"\#(String(repeating: "x", count: $0 * 3))"}"# }
        let stream = Array((messages.joined(separator: "\r\n") + "\n\n  \n").utf8)
        await propertyCheck(input: Gen.int(in: 1...40).array(of: 1...30)) { sizes in
            var splitter = JSONLineSplitter()
            var lines: [String] = []
            var offset = 0
            var index = 0
            while offset < stream.count {
                let size = sizes[index % sizes.count]
                let end = min(stream.count, offset + size)
                lines += splitter.append(ByteBuffer(bytes: stream[offset..<end])).map {
                    String(decoding: $0, as: UTF8.self)
                }
                offset = end
                index += 1
            }
            if let last = splitter.finish() { lines.append(String(decoding: last, as: UTF8.self)) }
            #expect(lines == messages)
        }
    }

    @Test("a final message without a newline is kept")
    func unterminatedLast() {
        var splitter = JSONLineSplitter()
        #expect(splitter.append(ByteBuffer(string: "{\"a\":1}\n{\"b\"")).count == 1)
        #expect(splitter.append(ByteBuffer(string: ":2}")).isEmpty)
        #expect(splitter.finish().map { String(decoding: $0, as: UTF8.self) } == "{\"b\":2}")
        #expect(splitter.finish() == nil)
    }

    @Test("Unix socket paths become URL hosts")
    func socketURL() {
        #expect(
            DockerEndpoint.unixSocket(path: "/var/run/docker.sock").baseURL == "http+unix://%2Fvar%2Frun%2Fdocker.sock"
        )
        #expect(DockerEndpoint.tcp(host: "::1", port: 2375).baseURL == "http://[::1]:2375")
    }
}
