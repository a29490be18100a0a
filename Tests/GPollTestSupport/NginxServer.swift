#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A throwaway nginx for a test: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off; …'`
/// with the caller's configuration in a temporary directory, its pid file, error
/// log and temporary files there too; stopped by its pid (SIGQUIT, then SIGKILL).
public final class NginxServer: Sendable {
    /// The temporary directory: nginx.conf, error.log, nginx.pid and the temp dirs.
    public let directory: String
    private let program: RunningProgram
    /// What nginx wrote to its standard output and error: errors in the configuration
    /// come there, before it opens error.log.
    private let output = Mutex<[String]>([])

    public static var binary: String? {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].first { access($0, X_OK) == 0 } ?? Program.find("nginx")
    }

    private init(directory: String, program: RunningProgram) {
        self.directory = directory
        self.program = program
    }

    /// Writes `configuration` (a whole nginx.conf; `@TMP@` stands for the temporary
    /// directory) and starts nginx; returns once `port` on 127.0.0.1 accepts connections.
    public static func start(configuration: String, port: Int) async throws -> NginxServer {
        guard let binary else { throw PostgresServer.Failure(description: "nginx is not installed (apt-get install nginx-light)") }
        let made = try await Program.run("/bin/mktemp", ["-d", "/tmp/gpoll-nginx.XXXXXX"], timeout: .seconds(10))
        let directory = String(made.stdout.filter { !$0.isNewline })
        guard made.status == .exited(0), !directory.isEmpty else { throw PostgresServer.Failure(description: "mktemp failed") }
        // The workers (nobody, under a root master) write temporary files in here.
        _ = try await Program.run("/bin/chmod", ["755", directory], timeout: .seconds(10))
        let text = configuration.replacing("@TMP@", with: directory)
        guard let file = fopen(directory + "/nginx.conf", "w") else { throw PostgresServer.Failure(description: "cannot write nginx.conf") }
        fputs(text, file)
        fclose(file)
        let program = try await RunningProgram.start(binary, [
            "-p", directory, "-c", directory + "/nginx.conf",
            "-g", "daemon off; pid \(directory)/nginx.pid; error_log \(directory)/error.log;",
        ])
        let server = NginxServer(directory: directory, program: program)
        Task { for await line in program.lines { server.output.withLock { $0.append(line) } } }  // drained so it never blocks
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if accepts(port: port) { return server }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = await server.errorLog
        await server.stop()
        throw PostgresServer.Failure(description: "nginx did not listen on port \(port); its error log:\n\(log)")
    }

    /// Its output and the contents of its error log, for a failure message.
    public var errorLog: String {
        get async {
            let file = (try? await Program.run("/bin/cat", [directory + "/error.log"], timeout: .seconds(10)).stdout) ?? ""
            return (output.withLock { $0 } + [file]).joined(separator: "\n")
        }
    }

    /// Stops nginx gracefully (SIGQUIT to the master, which ends its workers), or
    /// kills it after 10 s, and removes the directory.
    public func stop() async {
        program.send(.quit)
        let killer = Task {
            try await Task.sleep(for: .seconds(10))
            program.send(.kill)
        }
        _ = try? await program.wait()
        killer.cancel()
        _ = try? await Program.run("/bin/rm", ["-rf", directory], timeout: .seconds(30))
    }

    private static func accepts(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
