import GPollCore

/// Spec section 4: the client-id parameter and percent-decoding.
enum ParamCases {
    static let all: [ConformanceCase] = [
        ConformanceCase("param/001") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let text = id.description.replacingOccurrences(of: "$", with: "%24")
            try ctx.expectMessage(try await ctx.poll(id, on: c, text: text), m, requirement: "PA-2")
        },
        ConformanceCase("param/002") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // One message queued at a time: B may be 1.
            for uppercase in [true, false] {
                let m = ctx.message()
                try await ctx.publish(m)
                try ctx.expectMessage(try await ctx.poll(id, on: c, text: ctx.percentEncodeAll(id.description, uppercase: uppercase)),
                                      m, requirement: "PA-2")
            }
        },
        ConformanceCase("param/003") { ctx in
            let c = try await ctx.connect()
            try await ctx.expectHandshake("+++++++++", on: c, "HS-2")
            try await ctx.expectNotFound("++++++++++", on: c, "PA-2")
        },
        ConformanceCase("param/004") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            for value in ["\(id)%zz", "\(id)%2", "%zz", "%2"] {
                // Fresh connection each: a server may rightly close after a 400.
                let event = try await ctx.get(clientID: value, on: try await ctx.connect())
                guard let response = event.response else {
                    throw ctx.fail("PA-4", expected: "an answer (not a poll) to client-id=\(value)", actual: event.summary)
                }
                try ctx.check(response.status < 500, "PA-4", expected: "no 5xx for client-id=\(value)", actual: "\(response.status)")
                try ctx.check(!(response.status == 200 && response.body == m), "PA-4",
                              expected: "client-id=\(value) not to be read as a poll", actual: "200 with the client's message")
            }
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "PA-4")
        },
        ConformanceCase("param/005") { ctx in
            for value in ["%zz", "%2", "%g0", "%%41", "0$%x"] {
                let event = try await ctx.get(clientID: value, on: try await ctx.connect())
                try ctx.expectStatus(event, 400, requirement: "PA-5", what: "client-id=\(value)")
            }
        },
        ConformanceCase("param/006") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            try await ctx.expectHandshake("%FF%FE", on: c, "PA-3")
            try await ctx.expectNotFound(String(repeating: "%FF", count: 10), on: try await ctx.connect(), "PA-3")
            let broken = id.routineText + "$" + String(id.uuidText.dropLast()) + "%FF"
            try await ctx.expectNotFound(broken, on: try await ctx.connect(), "PA-3")
        },
        ConformanceCase("param/007") { ctx in
            let c = try await ctx.connect()
            try await ctx.expectHandshake(String(repeating: "%C3%A9", count: 4) + "x", on: c, "PA-3")
            try await ctx.expectNotFound(String(repeating: "%C3%A9", count: 5), on: c, "PA-3")
        },
        ConformanceCase("param/008") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            let text = try ctx.expectHandshakeAnswer(try await ctx.get(query: "client-id=0&client-id=\(id)", on: c), "PA-1",
                                                     what: "?client-id=0&client-id=<A>")
            try ctx.check(text != id.description, "PA-1", expected: "a new id", actual: "A's id")
            try ctx.expectMessage(try await ctx.get(query: "client-id=\(id)&client-id=0", on: c, within: ctx.patience), m, requirement: "PA-1")
        },
        ConformanceCase("param/009") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            // A message waits queued while the look-alike names are tried: none of them
            // may take it (they are handshakes). One message at a time: B may be 1.
            let m1 = ctx.message()
            try await ctx.publish(m1)
            for query in ["Client-Id=\(id)", "client-idx=\(id)", "x=1;client-id=\(id)", "client-id&client-id=\(id)"] {
                try ctx.expectHandshakeAnswer(try await ctx.get(query: query, on: c), "PA-1", what: "?\(query)")
            }
            try ctx.expectMessage(try await ctx.get(query: "x=1&&client-id=\(id)&y", on: c, within: ctx.patience), m1, requirement: "PA-1")
            let m2 = ctx.message()
            try await ctx.publish(m2)
            try ctx.expectMessage(try await ctx.get(query: "client%2Did=\(id)", on: c, within: ctx.patience), m2, requirement: "PA-2")
        },
    ]
}

// MARK: - gpoll/1.1 cases of section 4

extension ParamCases {
    static let gpoll11: [ConformanceCase] = [
        ConformanceCase("param/010") { ctx in
            let c = try await ctx.connect()
            let id = try await ctx.handshake(on: c)
            let m = ctx.message()
            try await ctx.publish(m)
            // The first client-id item decides (PA-1), and it holds an invalid escape: the
            // original dropped such an item and polled the next one's id instead.
            let query = "client-id=%zz&client-id=\(id)"
            let event = try await ctx.get(query: query, on: try await ctx.connect())
            guard let response = event.response else {
                throw ctx.fail("PA-4", expected: "an answer (not a poll) to ?\(query)", actual: event.summary)
            }
            try ctx.check(response.status < 500, "PA-4", expected: "no 5xx for ?\(query)", actual: "\(response.status)")
            try ctx.check(!(response.status == 200 && response.body == m), "PA-4",
                          expected: "?client-id=%zz&client-id=<A> not to be read as a poll of A", actual: "200 with A's queued message")
            try ctx.expectMessage(try await ctx.poll(id, on: c), m, requirement: "PA-4")
        },
    ]
}
