import ArgumentParser
import Foundation
import GPollClient

/// `gpoll publish URL [MESSAGE | -]`: one message through a harness publish URL.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish one message through a harness publish URL (POST, the raw body is the message).",
        discussion: """
            The publish URL is the deployment's, not the gpoll endpoint: for the reference
            server it is its admin listener, http://127.0.0.1:8081/publish (or
            /publish/<path> for the endpoint at /<path>). Without MESSAGE, or with -, the
            message is all of standard input, byte for byte (no newline is added or removed).
            Prints nothing when the message was accepted (a 2xx answer).

            Examples:
              gpoll publish http://127.0.0.1:8081/publish 'hello'
              date | gpoll publish http://127.0.0.1:8081/publish -
              gpoll publish https://example.com/publish --header 'Authorization: Bearer …' 'hi'
            """)

    @Argument(help: ArgumentHelp("The harness publish URL, e.g. http://127.0.0.1:8081/publish.", valueName: "url"))
    var url: String

    @Argument(help: ArgumentHelp("The message; - or nothing: read it from standard input.", valueName: "message"))
    var message: String?

    @Option(help: ArgumentHelp("How long to wait for the publish URL's answer.", valueName: "seconds"))
    var timeout: Double = 30

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try validateURL(url, what: "the publish URL")
        if !(timeout > 0) || !timeout.isFinite { throw ValidationError("--timeout must be a positive number of seconds") }
        _ = try connection.headers()
    }

    func run() async throws {
        let body: [UInt8]
        if let message, message != "-" {
            body = Array(message.utf8)
        } else {
            body = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        let http = try connection.makeHTTPClient()
        let publisher = GPollPublisher(url: url, headers: try connection.headers(), deadline: .seconds(timeout), httpClient: http)
        let result: Result<HTTPStatusLine, GPollPublishError>
        do {
            result = .success(try await publisher.publish(body))
        } catch {
            result = .failure(error)
        }
        try? await http.shutdown()

        guard case .failure(let error) = result else { return }
        switch error {
        case .unreachable(let detail):
            fail("cannot reach \(url): \(detail). Is the server running? (The reference server's publish URL is http://127.0.0.1:8081/publish, on its admin listener.)",
                 status: ExitStatus.lost)
        case .tlsFailure(let detail):
            fail("TLS failure with \(url): \(detail). For a private or self-signed certificate, use --ca-cert FILE with the CA that signed it.",
                 status: ExitStatus.tls)
        case .refused(let status, let text) where status.code == 404 || status.code == 405:
            fail("\(url) answered \(status)\(text.isEmpty ? "" : " (\(text))"): is it the harness publish URL? For the reference server it is http://127.0.0.1:8081/publish, or /publish/<path> for the endpoint at /<path>; the gpoll endpoint itself does not take publishes.",
                 status: ExitStatus.notGPoll)
        case .refused(let status, let text):
            fail("\(url) refused the message: \(status)\(text.isEmpty ? "" : " (\(text))")", status: ExitStatus.notGPoll)
        case .connectionLost, .timedOut, .cancelled:
            fail("publishing to \(url) failed: \(error); the message may or may not have been published", status: ExitStatus.lost)
        }
    }

    private func fail(_ text: String, status: Int32) -> Never {
        StandardError.write("gpoll: \(text)\n")
        Foundation.exit(status)
    }
}
