import GPollCore

/// Spec section 3: transport and endpoint.
enum TransportCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("transport/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c, requirement: "TR-2")
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "TR-2")
        },
        ConformanceCase("transport/002") { ctx in
            let id = try await ctx.handshake()
            let m = ctx.message()
            try await ctx.publish(m)
            let head = try await ctx.connect()
            // Any answer or a refusal is fine; only the queue matters.
            _ = try await ctx.send(WireRequest(method: "HEAD", target: head.endpoint.target(clientID: Array(id.description.utf8))),
                                   on: head, within: ctx.settle)
            try ctx.expectMessage(try await ctx.poll(id, on: try await ctx.connect()), m, requirement: "TR-4")
        },
        ConformanceCase("transport/003") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let form = [("Content-Type", "application/x-www-form-urlencoded")]
            let shake = WireRequest(target: ctx.target(clientID: "0"), headers: form, body: Array("client-id=\(id)".utf8))
            let text = try ctx.expectHandshakeAnswer(try await ctx.send(shake, on: c, within: ctx.prompt), "TR-5",
                                                     what: "client-id=0 with a body naming a live id")
            try ctx.check(text != id.description, "TR-5", expected: "a new id", actual: "the live id \(id) again")
            let poll = WireRequest(target: ctx.target(clientID: id.description), headers: form, body: Array("client-id=0".utf8))
            try ctx.expectMessage(try await ctx.send(poll, on: c, within: ctx.patience), m, requirement: "TR-5")
        },
        ConformanceCase("transport/004") { ctx in
            let c = try await ctx.connect()
            let shake = try ctx.expectStatus(try await ctx.get(clientID: "0", on: c), 200, requirement: "HS-1", what: "a handshake")
            try ctx.check(shake.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the handshake",
                          actual: shake.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
            let missing = try ctx.expectStatus(try await ctx.get(clientID: "abcdefghij", on: c), 404, requirement: "NF-1",
                                               what: "client-id=abcdefghij")
            try ctx.check(missing.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 404",
                          actual: missing.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
        ConformanceCase("transport/005") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let event = try await ctx.poll(id, on: c)
            try ctx.expectMessage(event, m, requirement: "PO-1")
            let response = event.response!
            try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the message",
                          actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
        ConformanceCase("transport/006", estimate: { $0.pollTimeout ?? .zero }) { ctx in
            let t = ctx.settings.pollTimeout!
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let event = try await ctx.poll(id, on: c, within: t + .milliseconds(1500))
            let response = try ctx.expectStatus(event, 204, requirement: "TO-1", what: "an idle poll after T")
            try ctx.check(response.cacheControlHas("no-store"), "TR-6", expected: "Cache-Control: no-store on the 204",
                          actual: response.value("Cache-Control").map { "Cache-Control: \($0)" } ?? "no Cache-Control")
        },
    ]
}
