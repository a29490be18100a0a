#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A throwaway PostgreSQL server for a test: a new data directory in a temporary
/// directory, listening on a free port of 127.0.0.1 (its unix socket in that
/// directory), trusting every local connection. Debian's PostgreSQL 15 by default
/// (`/usr/lib/postgresql/15/bin`), or the directory in `GPOLL_PG_BIN`.
///
/// As root, initdb and postgres refuse to run, so they run as the `postgres`
/// user (`runuser -u postgres --`), in a directory that user owns. The server is
/// stopped by the pid in its `postmaster.pid` (runuser does not pass signals on).
public final class PostgresServer: Sendable {
    public let port: Int
    /// The temporary directory: data directory `data`, unix socket, and the log lines.
    public let directory: String
    private let binaries: String
    private let asPostgresUser: Bool
    /// Whether it serves TLS (`ssl=on`) with ``certificatePath``.
    public let servesTLS: Bool
    private let program: Mutex<RunningProgram?>
    /// The processes ``freeze()`` stopped, for ``thaw()``.
    private let frozen = Mutex<[pid_t]>([])

    /// A URL for `gpoll-server --cluster`: user postgres, database postgres.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The binary directory, or nil when PostgreSQL is not installed (the tests then say what to install).
    public static var binaryDirectory: String? {
        let directory = getenv("GPOLL_PG_BIN").map { String(cString: $0) } ?? "/usr/lib/postgresql/15/bin"
        return access(directory + "/postgres", X_OK) == 0 ? directory : nil
    }

    /// With ``servesTLS``: the server's self-signed certificate (for 127.0.0.1), its own root.
    public var certificatePath: String? { servesTLS ? directory + "/server.crt" : nil }

    private init(port: Int, directory: String, binaries: String, asPostgresUser: Bool, servesTLS: Bool) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.asPostgresUser = asPostgresUser
        self.servesTLS = servesTLS
        self.program = Mutex(nil)
    }

    /// Makes the data directory and starts the server; returns once it accepts connections.
    /// With `tls`, it also serves TLS (`ssl=on`), with a self-signed certificate for
    /// 127.0.0.1 made by openssl in its directory (``certificatePath``).
    public static func start(tls: Bool = false) async throws -> PostgresServer {
        guard let binaries = binaryDirectory else {
            throw Failure(description: "PostgreSQL is not installed (apt-get install postgresql, or set GPOLL_PG_BIN)")
        }
        let made = try await Program.run("/bin/mktemp", ["-d", "/tmp/gpoll-pg.XXXXXX"], timeout: .seconds(10))
        let directory = trimmed(made.stdout)
        guard made.status == .exited(0), !directory.isEmpty else { throw Failure(description: "mktemp failed: \(made.stderr)") }
        let asPostgresUser = getuid() == 0
        if asPostgresUser {
            _ = try await Program.run("/bin/chown", ["postgres:postgres", directory], timeout: .seconds(10))
        }
        let server = PostgresServer(port: try freePort(), directory: directory, binaries: binaries, asPostgresUser: asPostgresUser, servesTLS: tls)
        if tls {
            do {
                try await makeSelfSignedCertificate(in: directory, name: "server")
                // postgres reads its key only if its own user owns it and nobody else may read it.
                if asPostgresUser {
                    _ = try await Program.run("/bin/chown", ["postgres:postgres", directory + "/server.key", directory + "/server.crt"], timeout: .seconds(10))
                }
            } catch {
                await server.remove()
                throw error
            }
        }
        let initdb = try await server.runAsOwner(binaries + "/initdb",
            ["-D", directory + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"],
            timeout: .seconds(120))
        guard initdb.status == .exited(0) else {
            await server.remove()
            throw Failure(description: "initdb failed: \(initdb.stdout)")
        }
        do {
            try await server.startServer()
        } catch {
            await server.remove()
            throw error
        }
        return server
    }

    /// Stops the server (fast shutdown: open connections are cut), leaves it down
    /// for `pause`, and starts it again on the same port with the same data;
    /// returns once it accepts connections.
    public func restart(after pause: Duration = .zero) async throws {
        await stopServer()
        try await Task.sleep(for: pause)
        try await startServer()
    }

    /// Makes `name.crt` and `name.key` (mode 600) in `directory` with openssl: a
    /// self-signed certificate for 127.0.0.1 (its subject and its IP address), valid a day.
    public static func makeSelfSignedCertificate(in directory: String, name: String) async throws {
        guard let openssl = Program.find("openssl") else { throw Failure(description: "openssl is not installed (apt-get install openssl)") }
        let made = try await Program.run(openssl, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).crt",
        ], timeout: .seconds(60), standardError: .combinedWithOutput)
        guard made.status == .exited(0) else { throw Failure(description: "openssl req failed: \(made.stdout)") }
        _ = try await Program.run("/bin/chmod", ["600", "\(directory)/\(name).key"], timeout: .seconds(10))
    }

    /// Freezes the server as a hung machine would: SIGSTOP to the postmaster (by the
    /// pid in `postmaster.pid`), then to every process below it (its backends and
    /// helpers, found through `/proc/<pid>/task/<pid>/children`; the postmaster,
    /// stopped first, forks no more). Connections stay open and nothing answers.
    /// Returns the pids it stopped (none if the server is not running); call
    /// ``thaw()`` in a `defer`, so that a failing test leaves no stopped server.
    @discardableResult
    public func freeze() -> [pid_t] {
        guard let postmaster = postmasterPID(), kill(postmaster, SIGSTOP) == 0 else { return [] }
        var stopped = [postmaster]
        var pending = Self.children(of: postmaster)
        while let pid = pending.popLast() {
            guard kill(pid, SIGSTOP) == 0 else { continue }  // it ended meanwhile
            stopped.append(pid)
            pending += Self.children(of: pid)
        }
        frozen.withLock { $0 += stopped }
        return stopped
    }

    /// SIGCONT to every process ``freeze()`` stopped; nothing if none is stopped.
    public func thaw() {
        let stopped = frozen.withLock { state -> [pid_t] in defer { state = [] }; return state }
        guard !stopped.isEmpty else { return }
        for pid in stopped { kill(pid, SIGCONT) }
        // runuser (util-linux) stops itself when its child stops, and while stopped it
        // would not reap the postmaster at the end: it goes on too.
        _ = program.withLock { $0?.send(.resume) }
    }

    /// The pids of `pid`'s children (Linux: a single-threaded process's children file).
    private static func children(of pid: pid_t) -> [pid_t] {
        guard let file = fopen("/proc/\(pid)/task/\(pid)/children", "r") else { return [] }
        defer { fclose(file) }
        var text: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        }
        return String(decoding: text, as: UTF8.self).split(separator: " ").compactMap { pid_t(trimmed(String($0))) }
    }

    /// Runs one SQL statement with psql as user postgres; its output, unaligned, without headers.
    public func query(_ sql: String) async throws -> String {
        let run = try await Program.run(binaries + "/psql",
            ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-tAXc", sql],
            timeout: .seconds(30))
        guard run.status == .exited(0) else { throw Failure(description: "psql: \(run.stderr)") }
        return trimmed(run.stdout)
    }

    /// Stops the server and removes its directory.
    public func stop() async {
        await stopServer()
        await remove()
    }

    private func startServer() async throws {
        let arguments = ["-D", directory + "/data", "-p", String(port), "-h", "127.0.0.1", "-k", directory,
                         "-c", "fsync=off", "-c", "max_connections=200"]
            + (servesTLS ? ["-c", "ssl=on", "-c", "ssl_cert_file=\(directory)/server.crt", "-c", "ssl_key_file=\(directory)/server.key"] : [])
        let started = try await asPostgresUser
            ? RunningProgram.start("/usr/sbin/runuser", ["-u", "postgres", "--", binaries + "/postgres"] + arguments)
            : RunningProgram.start(binaries + "/postgres", arguments)
        program.withLock { $0 = started }
        var log: [String] = []
        for await line in started.lines {
            log.append(line)
            if line.contains("database system is ready to accept connections") { return }
        }
        throw Failure(description: "postgres ended before accepting connections:\n" + log.joined(separator: "\n"))
    }

    private func stopServer() async {
        thaw()  // a stopped postmaster would not take the signal
        guard let running = program.withLock({ state -> RunningProgram? in defer { state = nil }; return state }) else { return }
        if let pid = postmasterPID() { kill(pid, SIGINT) } else { running.send(.terminate) }
        // Drain its log so that it can exit; it ends when postgres does.
        Task { for await _ in running.lines {} }
        _ = try? await running.wait()
    }

    /// The first line of `postmaster.pid`: the server's own pid, under runuser.
    private func postmasterPID() -> pid_t? {
        guard let file = fopen(directory + "/data/postmaster.pid", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 32)
        guard fgets(&buffer, 32, file) != nil else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return pid_t(trimmed(text))
    }

    private func remove() async {
        _ = try? await Program.run("/bin/rm", ["-rf", directory], timeout: .seconds(30))
    }

    private func runAsOwner(_ executable: String, _ arguments: [String], timeout: Duration) async throws -> Program.Finished {
        asPostgresUser
            ? try await Program.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments, timeout: timeout, standardError: .combinedWithOutput)
            : try await Program.run(executable, arguments, timeout: timeout, standardError: .combinedWithOutput)
    }
}

/// A port of 127.0.0.1 that was free a moment ago (bound to 0 and released), for
/// a program that cannot be told to pick its own.
public func freePort() throws -> Int {
    let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socketDescriptor >= 0 else { throw PostgresServer.Failure(description: "socket() failed") }
    defer { close(socketDescriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(socketDescriptor, generic, length) == 0 && getsockname(socketDescriptor, generic, &length) == 0
        }
    }
    guard bound else { throw PostgresServer.Failure(description: "could not bind a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `text` without leading and trailing whitespace (this target does without Foundation).
private func trimmed(_ text: String) -> String {
    var text = Substring(text)
    while let first = text.first, first.isWhitespace { text = text.dropFirst() }
    while let last = text.last, last.isWhitespace { text = text.dropLast() }
    return String(text)
}
