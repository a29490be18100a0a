import GPollCore
import GPollServer
import NIOCore
import Testing

@Suite("scale")
struct ScaleTests {
    @Test("1,000 concurrent clients each register and poll; one broadcast reaches all; no client lost")
    func thousandClients() async throws {
        // 1,000 client sockets and 1,000 server sockets live in this one process.
        FileDescriptorLimit.raiseToHardLimit()
        let count = 1000
        try await withServer { server in
            let connections = try await withThrowingTaskGroup(of: (TestConnection, ClientID).self) { group in
                for _ in 0..<count {
                    group.addTask {
                        let connection = try await server.connect()
                        return (connection, try await server.handshake(connection))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(connections.map(\.1)).count == count)
            let polls = connections.map { connection, id in connection.send(server.pollTarget(id), timeout: .seconds(30)) }
            try await waitUntil("every poll waits", timeout: .seconds(30)) { server.endpoint.waitingPollCount == count }
            try await server.publish("to everyone")
            var delivered = 0
            for poll in polls {
                let response = try await poll.get()
                if response.status == .ok && response.text == "to everyone" { delivered += 1 }
            }
            #expect(delivered == count)
            #expect(server.endpoint.clientCount == count)
            // Every client is still live and pollable: publish again and take it without waiting.
            try await server.publish("again")
            for (connection, id) in connections.prefix(50) {
                #expect(try await connection.request(server.pollTarget(id)).text == "again")
            }
            for (connection, _) in connections { await connection.close() }
        }
    }

    @Test("in-process send without HTTP reaches registered clients")
    func inProcessSend() throws {
        let endpoint = try GPollEndpoint(path: "/bench", configuration: BroadcasterConfiguration(clientBufferCapacity: 10))
        var ids: [ClientID] = []
        for _ in 0..<1000 {
            guard case .registered(let id) = endpoint.register() else { Issue.record("refused"); return }
            ids.append(id)
        }
        for index in 0..<10 {
            let summary = endpoint.send(Array("m\(index)".utf8))
            #expect(summary.queued == 1000)
        }
        #expect(endpoint.queuedMessageCount(of: ids[0]) == 10)
        #expect(endpoint.send([]).evicted == 1000)
        #expect(endpoint.clientCount == 0)
    }
}
