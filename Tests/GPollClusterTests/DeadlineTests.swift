@testable import GPollCluster
import GPollServer
import Testing

/// The query timeout's parts that need no database.
@Suite("database deadlines")
struct DeadlineTests {
    struct Refused: Error {}

    @Test("withDeadline gives the work's value or error, and DeadlinePassed for work that does not end by then")
    func deadline() async throws {
        #expect(try await withDeadline(.seconds(30)) { 42 } == 42)
        await #expect(throws: Refused.self) { try await withDeadline(.seconds(30)) { throw Refused() } }
        // Stands for a query to a frozen database: it would not end for an hour.
        await #expect(throws: DeadlinePassed.self) {
            try await withDeadline(.milliseconds(50)) { try await Task.sleep(for: .seconds(3600)) }
        }
    }

    @Test("the library's query timeout and gpoll-server's default agree, and a non-positive one is refused")
    func defaults() async throws {
        let database = try DatabaseAddress(url: "postgres://u@db/gpoll")
        let library = GPollClusterConfiguration(database: database, nodeName: "a", nodePrefix: 1)
        let (reader, _) = try await GPollServerSettings.reader(flags: [:], environment: ["GPOLL_CLUSTER": "postgres://u@db/gpoll", "GPOLL_NODE_NAME": "a"])
        let settings = try await GPollServerSettings.read(reader, fileDescriptorLimit: nil, metrics: .disabled)
        #expect(settings.cluster?.queryTimeout == library.queryTimeout)
        var zero = library
        zero.queryTimeout = .zero
        #expect(zero.problems.contains("the query timeout must be positive"))
    }
}
