import Foundation
import Testing

/// `contrib/coffer.service`: a unit systemd accepts, with the hardening the README promises.
@Suite("systemd unit")
struct SystemdUnitTests {
    static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contrib/coffer.service")

    @Test("systemd-analyze verify accepts it (pointed at the built binary); the hardening directives are there")
    func verify() throws {
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        for directive in [
            "DynamicUser=yes", "StateDirectory=coffer", "ProtectSystem=strict", "NoNewPrivileges=yes", "LimitCORE=0",
            "MemoryDenyWriteExecute=yes", "PrivateTmp=yes", "CapabilityBoundingSet=", "UMask=0077",
            "ExecStart=/usr/local/bin/coffer server --data-dir /var/lib/coffer", "Environment=ENVIRONMENT=production",
        ] {
            #expect(text.contains(directive), "\(directive)")
        }
        // systemd-analyze checks that ExecStart's program exists: verify a copy that runs the binary just built.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("coffer.service")
        try text.replacingOccurrences(of: "/usr/local/bin/coffer", with: cofferBinary.path)
            .write(to: copy, atomically: true, encoding: .utf8)
        let result = try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["systemd-analyze", "verify", copy.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }
}
