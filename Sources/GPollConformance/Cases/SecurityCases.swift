import GPollCore
import GPollWire

/// Spec section 15: security considerations.
enum SecurityCases {
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    static func leaks(_ event: WireEvent, _ secret: String) -> Bool {
        guard let response = event.response else { return false }
        let text = String(decoding: response.body, as: UTF8.self) + response.headers.map { "\($0.0): \($0.1)" }.joined()
        return text.contains(secret)
    }

    static let all: [ConformanceCase] = [
        ConformanceCase("security/001") { ctx in
            let secret = try await ctx.handshake().uuidText
            let c = try await ctx.connect()
            var events: [(String, WireEvent)] = []
            events.append(("a handshake", try await ctx.get(clientID: "0", on: c)))
            events.append(("a 404", try await ctx.get(clientID: "abcdefghij", on: c)))
            events.append(("an invalid escape", try await ctx.get(clientID: "%zz", on: try await ctx.connect())))
            let pollConnection = try await ctx.connect()
            let b = try await ctx.handshake(on: pollConnection)
            let m = ctx.message()
            try await ctx.publish(m)
            events.append(("a poll of another client", try await ctx.poll(b, on: pollConnection)))
            for (what, event) in events {
                try ctx.check(!leaks(event, secret), "SE-2", expected: "no other client's id in \(what)", actual: "its uuid \(secret)")
            }
        },
        ConformanceCase("security/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let leak = ctx.message("leak")
            let other = try await ctx.connect()
            let attempts = [
                WireRequest(method: "POST", target: ctx.target(query: nil), body: leak),
                WireRequest(target: ctx.target(query: nil), body: leak),
                WireRequest(target: ctx.target(query: "msg=\(String(decoding: leak, as: UTF8.self))&client-id=0")),
            ]
            for request in attempts {
                let conn = await other.isClosed ? try await ctx.connect() : other
                _ = try await ctx.send(request, on: conn, within: ctx.prompt)
            }
            let marker = ctx.message("marker")
            try await ctx.publish(marker)
            try ctx.expectMessage(try await ctx.poll(id, on: c), marker, requirement: "SE-4")
        },
        ConformanceCase("security/003") { ctx in
            let url = ctx.settings.pollURL
            ctx.note("poll URL \(url): scheme \(url.isTLS ? "https" : "http"), host \(url.host)")
            try ctx.check(url.isTLS || isLoopback(url.host), "SE-3", expected: "https, or a loopback host",
                          actual: "http to \(url.host)")
        },
        ConformanceCase("security/004") { ctx in
            let url = ctx.settings.publishURL!
            if ctx.settings.publishHeaders.isEmpty {
                ctx.note("no --publish-header: judging the publish URL's host \(url.host)")
                try ctx.check(isLoopback(url.host), "SE-5", expected: "a loopback publish URL (or one that needs credentials)",
                              actual: "\(url.host), open to anyone")
                return
            }
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let sneaky = ctx.message("unauthenticated")
            var refused = true
            if let connection = try? await ctx.client_connect(url) {
                let event = try await ctx.send(WireRequest(method: "POST", target: url.plainTarget, body: sneaky), on: connection, within: ctx.prompt)
                if let response = event.response {
                    refused = [401, 403].contains(response.status)
                    try ctx.check(refused || !(200..<300).contains(response.status), "SE-5",
                                  expected: "401, 403 or no connection without credentials", actual: "\(response.status)")
                }
            }
            let marker = ctx.message("marker")
            try await ctx.publish(marker)
            let event = try await ctx.poll(id, on: c)
            try ctx.check(event.response?.body != sneaky, "SE-5", expected: "no delivery of an unauthenticated publish",
                          actual: "it was delivered")
            try ctx.check(refused, "SE-5", expected: "401, 403 or no connection without credentials", actual: "another refusal")
            try ctx.expectMessage(event, marker, requirement: "HA-1")
        },
    ]
}

/// Spec section 16: the conformance harness interface.
enum HarnessCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("harness/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            try ctx.expectMessage(try await ctx.poll(id, on: c, within: ctx.settle), m, requirement: "HA-1")
        },
        ConformanceCase("harness/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.publish(all: ctx.messages(ctx.clientBuffer + 1))
            let event = try await ctx.poll(id, on: c, within: ctx.settle)
            try ctx.expectStatus(event, 404, requirement: "HA-1", what: "a poll right after the (B+1)-th publish was acknowledged")
        },
        ConformanceCase("harness/003") { ctx in
            let (ca, cc) = (try await ctx.connect(.primary), try await ctx.connect(.second))
            let a = try await ctx.handshake(.primary, on: ca)
            let c = try await ctx.handshake(.second, on: cc)
            let (x, m) = (ctx.message("second"), ctx.message("first"))
            try await ctx.publish(x, to: .second)
            try await ctx.publish(m, to: .primary)
            try ctx.expectMessage(try await ctx.poll(a, on: ca), m, requirement: "HA-3")
            try ctx.expectMessage(try await ctx.poll(c, on: cc), x, requirement: "HA-3")
        },
        ConformanceCase("harness/004") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let body = Array("a=b&c=%41+ ".utf8)
            try await ctx.publish(body, contentType: "application/x-www-form-urlencoded")
            try ctx.expectMessage(try await ctx.poll(id, on: c), body, requirement: "HA-2")
        },
    ]
}
