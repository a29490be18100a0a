import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sorts the errors of async-http-client and NIO into what the client algorithm
/// tells apart: no connection (a failure, CL-16), a lost connection (CL-20), a
/// request timeout (CL-15), TLS, and the client's own cancellation.
enum TransportFailure {
    /// The outcome of a request that ended with `error`; nil when it was cancelled
    /// (the application stopped the client) or the HTTP client was shut down.
    static func outcome(of error: any Error) -> ClientStateMachine.Outcome? {
        if error is CancellationError { return nil }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled, .alreadyShutdown: return nil
            case .deadlineExceeded: return .timedOut
            case .connectTimeout: return .unreachable("no connection within the connect timeout")
            case .tlsHandshakeTimeout: return .tlsFailure("the TLS handshake timed out")
            case .remoteConnectionClosed: return .connectionLost("the server closed the connection before answering")
            case .uncleanShutdown: return .connectionLost("the TLS connection ended without a close_notify")
            default: return .connectionLost("\(error)")
            }
        }
        if error is NIOTooManyBytesError { return .tooLarge }
        if let error = error as? NIOSSLError {
            if case .uncleanShutdown = error { return .connectionLost("the TLS connection ended without a close_notify") }
            return .tlsFailure(describe(error))
        }
        if error is NIOSSLExtraError || error is BoringSSLError { return .tlsFailure(describe(error)) }
        if let error = error as? NIOConnectionError {
            if let dns = error.dnsAError ?? error.dnsAAAAError { return .unreachable("cannot resolve \(error.host): \(dns)") }
            let causes = error.connectionErrors.map { describe($0.error) }
            return .unreachable("cannot connect to \(error.host):\(error.port)\(causes.isEmpty ? "" : " (\(Set(causes).sorted().joined(separator: ", ")))")")
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL:
                return .unreachable(describe(error))
            default:
                return .connectionLost(describe(error))
            }
        }
        return .connectionLost(describe(error))
    }

    /// Errors in words: `connection refused` rather than a type dump where NIO gives an errno.
    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError, let text = strerror(error.errnoCode) {
            return String(cString: text).lowercased()
        }
        if let error = error as? NIOSSLError, case .handshakeFailed(let inner) = error {
            return "handshake failed: \(inner)"
        }
        return "\(error)"
    }
}
