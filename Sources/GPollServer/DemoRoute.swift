import NIOHTTP1

/// What the gpoll listener does with a request for a path that is no endpoint when
/// the demo is on (`--demo`): pure logic, method and path in, route out.
enum DemoRoute: Equatable {
    /// `GET /`: the chat page.
    case page
    /// `GET /gpoll.js`: the client the page imports.
    case script
    /// `POST /demo/publish`: the body is one message for the demo's endpoint.
    case publish
    /// One of the demo's paths with another method; `allow` for the `Allow` header.
    case methodNotAllowed(allow: String)
    /// Any other path: 404, as without the demo.
    case notFound

    static let pagePath = "/"
    static let scriptPath = "/gpoll.js"
    static let publishPath = "/demo/publish"

    init(method: HTTPMethod, path: Substring) {
        switch path {
        case Self.pagePath: self = method == .GET ? .page : .methodNotAllowed(allow: "GET")
        case Self.scriptPath: self = method == .GET ? .script : .methodNotAllowed(allow: "GET")
        case Self.publishPath: self = method == .POST ? .publish : .methodNotAllowed(allow: "POST")
        default: self = .notFound
        }
    }
}
