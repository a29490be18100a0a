import CLibXML2

/// libxml2 must be initialised once, before any concurrent use. A global
/// `let` is initialised exactly once, thread-safely, on first access.
private let libxml2Initialised: Bool = {
    xmlInitParser()
    return true
}()

/// Initialises libxml2 (once per process); call before any libxml2 use.
func ensureLibXML2Initialised() {
    _ = libxml2Initialised
}
