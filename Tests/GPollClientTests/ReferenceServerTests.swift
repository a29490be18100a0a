import Foundation
import GPollCore
import GPollServer
import Testing
@testable import GPollClient

/// The reference server, in process on 127.0.0.1 port 0, stopped by each test.
struct ReferenceServer {
    let server: GPollServer
    let endpoint: GPollEndpoint

    static func start(_ configuration: BroadcasterConfiguration = .init()) async throws -> ReferenceServer {
        let endpoint = try GPollEndpoint(path: "/poll", configuration: configuration)
        let server = try GPollServer(
            configuration: GPollServerConfiguration(host: "127.0.0.1", port: 0, admin: .init(host: "127.0.0.1", port: 0)),
            endpoints: [endpoint])
        try await server.start()
        return ReferenceServer(server: server, endpoint: endpoint)
    }

    var url: String { "http://127.0.0.1:\(server.port!)/poll" }
    var publishURL: String { "http://127.0.0.1:\(server.adminPort!)/publish" }

    func stop() async { await server.shutdown() }
}

/// Collects events until `done` says so (a test's own bound on what it waits for).
func collect(_ client: GPollClient, until done: @Sendable ([GPollEvent]) -> Bool,
             onEvent: @Sendable (GPollEvent, [GPollEvent]) -> Void = { _, _ in }) async throws -> [GPollEvent] {
    var events: [GPollEvent] = []
    for try await event in client.events() {
        events.append(event)
        onEvent(event, events)
        if done(events) { break }
    }
    return events
}

extension GPollEvent {
    var messageText: String? {
        if case .message(let message) = self { return message.text }
        return nil
    }
}

@Suite("GPollClient against the reference server")
struct ReferenceServerTests {
    @Test("registers, then receives messages in order, with acknowledged delivery")
    func messagesInOrder() async throws {
        let reference = try await ReferenceServer.start()
        let client = try GPollClient(endpoint: reference.url)
        let messages = ["one", "", "three", "\u{0}four\r\n\r\n", "fünf"]
        let events = try await collect(client, until: { events in events.filter { $0.messageText != nil }.count == messages.count }) { event, _ in
            // Published once the client is registered: they queue for it (B = 100) and arrive in order.
            if case .registered = event { for message in messages { _ = reference.endpoint.send(Array(message.utf8)) } }
        }
        await client.close()
        await reference.stop()

        guard case .registered(let registration) = events.first else { Issue.record("\(events)"); return }
        #expect(registration.usesAcknowledgedDelivery)
        #expect(registration.settings.version == "1.1" && registration.settings.pollTimeoutSeconds == 30)
        let received = events.compactMap { event -> GPollMessage? in
            if case .message(let message) = event { return message }
            return nil
        }
        #expect(received.map { $0.text } == messages)
        #expect(received.map(\.sequence) == [1, 2, 3, 4, 5])
    }

    @Test("without ack offered (gpoll/1 polls) the messages arrive the same")
    func withoutAck() async throws {
        let reference = try await ReferenceServer.start(BroadcasterConfiguration(offersAcknowledgedDelivery: false, advertisesSettings: false))
        let client = try GPollClient(endpoint: reference.url)
        let events = try await collect(client, until: { $0.filter { $0.messageText != nil }.count == 2 }) { event, _ in
            if case .registered = event { _ = reference.endpoint.send(Array("a".utf8)); _ = reference.endpoint.send(Array("b".utf8)) }
        }
        await client.close()
        await reference.stop()
        guard case .registered(let registration) = events.first else { Issue.record("\(events)"); return }
        #expect(!registration.usesAcknowledgedDelivery && registration.settings.isEmpty)
        #expect(events.compactMap(\.messageText) == ["a", "b"])
    }

    @Test("an eviction (404 evicted) mid-stream: the client registers again and says messages may have been missed")
    func registersAgainAfter404() async throws {
        // B = 1: with the first message handed out and unacknowledged (the application
        // has not asked for more), the second offered message evicts the client (AK-4).
        let reference = try await ReferenceServer.start(BroadcasterConfiguration(clientBufferCapacity: 1))
        let client = try GPollClient(endpoint: reference.url)
        let events = try await collect(client, until: { events in events.contains { $0.messageText == "after" } }) { event, events in
            switch event {
            case .registered: _ = reference.endpoint.send(Array("first".utf8))
            case .message(let message) where message.text == "first":
                _ = reference.endpoint.send(Array("lost".utf8))
            case .registeredAgain: _ = reference.endpoint.send(Array("after".utf8))
            default: break
            }
        }
        await client.close()
        await reference.stop()

        #expect(events.compactMap(\.messageText) == ["first", "after"])
        let again = events.compactMap { event -> (GPollRegistration, GPollReregistrationCause)? in
            if case .registeredAgain(let registration, let cause) = event { return (registration, cause) }
            return nil
        }
        #expect(again.count == 1)
        #expect(again.first?.1 == .notFound(reason: .evicted))
        guard case .registered(let first) = events.first else { Issue.record("\(events)"); return }
        #expect(again.first?.0.id != first.id)
    }

    @Test("close() ends a sequence whose poll is waiting, without an error")
    func closeEndsWaitingPoll() async throws {
        let reference = try await ReferenceServer.start()
        let client = try GPollClient(endpoint: reference.url)
        let iteration = Task { try await collect(client, until: { _ in false }) }
        // Wait until the poll waits at the server (90 s: a bound for a hang, see ScriptedServer).
        let deadline = ContinuousClock.now + .seconds(90)
        while reference.endpoint.waitingPollCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(reference.endpoint.waitingPollCount == 1)
        await client.close()
        let events = try await iteration.value
        #expect(events.count == 1)
        // A closed client's sequence is empty from the start.
        var iterator = client.events().makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        await reference.stop()
    }

    @Test("a client dropped without close() shuts its own HTTP client down (async-http-client would trap otherwise)")
    func droppedWithoutClose() async throws {
        let reference = try await ReferenceServer.start()
        do {
            let client = try GPollClient(endpoint: reference.url)
            var iterator = client.events().makeAsyncIterator()
            guard case .registered? = try await iterator.next() else { Issue.record("not registered"); return }
        }
        // The shutdown completes in the background; give it time to reach the HTTP client's deinit.
        try await Task.sleep(for: .milliseconds(300))
        await reference.stop()
    }
}
