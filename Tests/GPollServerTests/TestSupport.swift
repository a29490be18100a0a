import Foundation
import GPollCore
import GPollServer
import GPollTestSupport
import GPollWire
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing

/// A running server on 127.0.0.1 with port 0 for both listeners.
struct TestServer: Sendable {
    let server: GPollServer
    let endpoints: [GPollEndpoint]
    let port: Int
    let adminPort: Int
    /// The client for `https` connections, trusting the test certificate; nil: plain HTTP.
    let clientTLS: WireClient?

    var endpoint: GPollEndpoint { endpoints[0] }

    func endpoint(_ path: String) -> GPollEndpoint { endpoints.first { $0.path == path }! }

    func connect() async throws -> TestConnection {
        try await TestConnection.connect(port: port, tls: clientTLS)
    }

    func connectAdmin() async throws -> TestConnection {
        try await TestConnection.connect(port: adminPort)
    }

    /// Publishes through the admin listener, as the Spec's harness does.
    @discardableResult
    func publish(_ message: [UInt8], to path: String = "/publish") async throws -> TestResponse {
        let admin = try await connectAdmin()
        defer { Task { await admin.close() } }
        return try await admin.request(path, method: .POST, body: message)
    }

    func publish(_ message: String, to path: String = "/publish") async throws {
        let response = try await publish(Array(message.utf8), to: path)
        #expect(response.status == .noContent)
    }

    /// Handshakes on `connection` and returns the issued id.
    func handshake(_ connection: TestConnection, path: String? = nil) async throws -> ClientID {
        let response = try await connection.request("\(path ?? endpoint.path)?client-id=0")
        #expect(response.status == .ok)
        return try HandshakeBody.decode(response.body).get()
    }

    func pollTarget(_ id: ClientID, path: String? = nil) -> String {
        "\(path ?? endpoint.path)?client-id=\(id)"
    }
}

/// Starts a server, runs `body`, and always shuts the server down, also when `body` throws.
func withServer<T>(
    endpoints: [(String, BroadcasterConfiguration)] = [("/poll", BroadcasterConfiguration())],
    tls: Bool = false,
    maximumMessageBytes: Int = 1 << 20,
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let made = try endpoints.map { try GPollEndpoint(path: $0.0, configuration: $0.1) }
    var tlsFiles: GPollServerConfiguration.TLSFiles?
    var clientTLS: WireClient?
    if tls {
        let files = try await SelfSignedCertificate.make()
        tlsFiles = .init(certificateChainPath: files.certificate, privateKeyPath: files.key)
        clientTLS = try WireClient(tls: .init(caCertificatePath: files.certificate), group: MultiThreadedEventLoopGroup.singleton)
    }
    let server = try GPollServer(
        configuration: GPollServerConfiguration(
            host: "127.0.0.1", port: 0, tls: tlsFiles,
            admin: .init(host: "127.0.0.1", port: 0, maximumMessageBytes: maximumMessageBytes)
        ),
        endpoints: made
    )
    try await server.start()
    let running = TestServer(server: server, endpoints: made, port: server.port!, adminPort: server.adminPort!, clientTLS: clientTLS)
    let result: T
    do {
        result = try await body(running)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
    return result
}

/// Waits until `condition` holds, checking every few milliseconds, or fails after `timeout`.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(10),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        if clock.now >= deadline {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            throw TestClientError(description: "timed out waiting until \(what)")
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// A self-signed certificate for localhost, made by openssl at test time.
enum SelfSignedCertificate {
    static func make() async throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpoll-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("cert.pem").path
        let openssl = try await Program.run("/usr/bin/env", [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", key, "-out", certificate,
        ], timeout: .seconds(60))
        guard openssl.status == .exited(0) else {
            throw TestClientError(description: "openssl failed (\(openssl.status)); CI installs openssl, so this is an error")
        }
        return (certificate, key)
    }
}

extension HTTPHeaders {
    func value(_ name: String) -> String? { first(name: name) }
}

/// Checks the headers every gpoll response must carry. A 204 has no Content-Length:
/// RFC 9110 section 8.6 forbids it there, and NIO's encoder drops it.
func expectGPollHeaders(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.headers.value("cache-control") == "no-store", sourceLocation: sourceLocation)
    if response.status == .noContent {
        #expect(response.headers.value("content-length") == nil, sourceLocation: sourceLocation)
        #expect(response.body.isEmpty, sourceLocation: sourceLocation)
    } else {
        #expect(response.headers.value("content-length") == String(response.body.count), sourceLocation: sourceLocation)
    }
}
