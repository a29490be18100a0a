// swift-tools-version:6.0
// Swift 6 language mode (strict concurrency) is the default for tools version 6.
import PackageDescription

let package = Package(
    name: "gpoll-kit",
    products: [
        .library(name: "GPollCore", targets: ["GPollCore"]),
        .library(name: "GPollSpec", targets: ["GPollSpec"]),
        .library(name: "JUnitXML", targets: ["JUnitXML"]),
    ],
    targets: [
        // The protocol as pure value types: no I/O, standard library and Foundation only.
        .target(name: "GPollCore"),

        // Spec/catalog.json as Swift values (embedded, generated), and the check that
        // the prose specification, the catalog and a case registry agree.
        .target(name: "GPollSpec"),

        // libxml2, for writing JUnit XML with its text writer and for schema validation in tests.
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(name: "JUnitXML", dependencies: ["CLibXML2"]),

        .testTarget(name: "GPollCoreTests", dependencies: ["GPollCore"]),
        .testTarget(name: "SpecTests", dependencies: ["GPollSpec"]),
        // Schemas/ holds the JUnit XSDs the tests validate against (read via #filePath).
        .testTarget(name: "JUnitXMLTests", dependencies: ["JUnitXML", "CLibXML2"], exclude: ["Schemas"]),
    ]
)
