import NIOHTTP1

/// The long-poll protocol the bench's clients speak, so that one load generator
/// loads gpoll servers and their peers alike.
package enum BenchProtocol: String, CaseIterable, Hashable, Sendable {
    /// gpoll/1: a handshake (`client-id=0`), then polls with the id it returned.
    case gpoll
    /// nchan's long-poll subscriber (nchan.io, "Long-Polling"): no handshake; the
    /// first GET of the subscriber URL carries no validator, every later one sends
    /// the previous 200's `Last-Modified` as `If-Modified-Since` and its `Etag` as
    /// `If-None-Match`, which nchan reads as "the message after that one". A
    /// subscriber timeout answers 304 (poll again with the same validators). The
    /// publish URL is nchan's publisher location (POST, raw body).
    case nchan
}

/// What an nchan subscriber sends to ask for the message after the last one it got.
struct NchanCursor: Hashable, Sendable {
    var lastModified: String
    var etag: String

    /// The cursor a 200's headers name, nil when either validator is missing
    /// (the subscriber then cannot say where it is: an error, not a guess).
    init?(responseHeaders headers: HTTPHeaders) {
        guard let lastModified = headers.first(name: "Last-Modified"),
              let etag = headers.first(name: "Etag") else { return nil }
        self.lastModified = lastModified
        self.etag = etag
    }

    /// The request headers that continue after this cursor.
    func apply(to headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: "If-Modified-Since", value: lastModified)
        headers.replaceOrAdd(name: "If-None-Match", value: etag)
    }
}
