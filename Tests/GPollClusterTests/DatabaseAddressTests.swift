import GPollCluster
import Testing

@Suite("postgres:// URLs")
struct DatabaseAddressTests {
    @Test("sslmode and sslrootcert by libpq's names; no TLS unless asked; the password never in the description")
    func parameters() throws {
        let plain = try DatabaseAddress(url: "postgres://gpoll:s%40cret@db:6432/bus")
        #expect(plain.tls == .disable && plain.rootCertificatePath == nil)
        #expect(plain.password == "s@cret" && plain.port == 6432 && plain.database == "bus")
        #expect(plain.description == "postgres://gpoll@db:6432/bus")

        let verified = try DatabaseAddress(url: "postgresql://gpoll:pw@db/bus?sslmode=verify-full&sslrootcert=%2Fetc%2Fgpoll%2Fca.pem")
        #expect(verified.tls == .verifyFull && verified.rootCertificatePath == "/etc/gpoll/ca.pem")
        #expect(verified.description == "postgres://gpoll@db:5432/bus?sslmode=verify-full&sslrootcert=/etc/gpoll/ca.pem")
        #expect(!verified.description.contains("pw"))
        for mode in DatabaseAddress.TLSMode.allCases {
            #expect(try DatabaseAddress(url: "postgres://u@db/bus?sslmode=\(mode.rawValue)").tls == mode)
        }
        // libpq's other two modes are refused, not taken for something else.
        for refused in ["allow", "verify-ca", "VERIFY-FULL", ""] {
            #expect(throws: DatabaseAddressError.self) { try DatabaseAddress(url: "postgres://u@db/bus?sslmode=\(refused)") }
        }
    }
}
