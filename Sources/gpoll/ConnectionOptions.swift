import ArgumentParser
import AsyncHTTPClient
import Foundation
import GPollClient
import NIOSSL

/// Options both subcommands take: extra headers and TLS trust.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("header"), help: ArgumentHelp(
        "A request header to send, as 'Name: value' (repeatable), e.g. 'Authorization: Bearer …'.",
        valueName: "name: value"))
    var headerLines: [String] = []

    @Option(name: .customLong("ca-cert"), help: ArgumentHelp(
        "A PEM file of CA certificates to trust for https, besides the system's (for a private or self-signed server).",
        valueName: "file"))
    var caCertificatePath: String?

    /// The `--header` values as name and value.
    func headers() throws -> [(name: String, value: String)] {
        try headerLines.map { line in
            guard let colon = line.firstIndex(of: ":") else {
                throw ValidationError("--header '\(line)': write it as 'Name: value'")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            let token = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(token.contains) else {
                throw ValidationError("--header '\(line)': '\(name)' is not a header name")
            }
            guard !value.contains("\r"), !value.contains("\n") else {
                throw ValidationError("--header '\(line)': a header value cannot hold a line break")
            }
            return (name, value)
        }
    }

    /// TLS with the `--ca-cert` roots added; nil (the defaults) without it.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let caCertificatePath else { return nil }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(caCertificatePath)
        } catch {
            throw ValidationError("--ca-cert \(caCertificatePath): cannot read PEM certificates from it (\(error))")
        }
        guard !certificates.isEmpty else { throw ValidationError("--ca-cert \(caCertificatePath): the file holds no certificate") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(certificates)]
        return tls
    }

    /// An HTTP client as a gpoll client needs it, with these TLS roots.
    func makeHTTPClient() throws -> HTTPClient {
        HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                   configuration: GPollClient.httpClientConfiguration(tls: try tlsConfiguration()))
    }
}

/// Checks that a URL is one the client can use, before anything starts.
func validateURL(_ url: String, what: String) throws {
    guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
          scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
    else {
        throw ValidationError("\(what) '\(url)' is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/poll")
    }
}
