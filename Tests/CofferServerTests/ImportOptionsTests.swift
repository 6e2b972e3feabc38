import Foundation
import Testing

@testable import CofferServer

/// Migrating the seed systems' data: empty values, --match, --from-environment, and Fernet keys derived with PBKDF2.
@Suite("coffer import: the seeds' data", .serialized)
struct ImportOptionsTests {
    func loggedIn(_ api: LiveServer) async throws -> CLISandbox {
        _ = try await api.user("alice")
        let cli = try CLISandbox(port: try #require(api.client.port))
        let login = try await cli(["login", "--username", "alice", "--password-stdin"], stdin: LiveServer.password + "\n")
        #expect(login.status == 0, "\(login)")
        #expect(try await cli(["workspace", "create", "prod"]).status == 0)
        return cli
    }

    func names(_ cli: CLISandbox) async throws -> Set<String> {
        let listed = try await cli(["secrets", "list", "-w", "prod", "--json"])
        return Set(items(listed.stdout).compactMap { $0["name"] as? String })
    }

    @Test("an empty value is skipped and named, --match filters, --from-environment reads the environment")
    func emptyMatchEnvironment() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let file = try cli.file(".env", "DEBUG=\nAPP_KEY=app-value\nAPP_EMPTY=\"\"\nSTRIPE_KEY=stripe-value\n")
            let imported = try await cli(["import", file, "-w", "prod", "--match", "APP_*"])
            #expect(imported.status == 0, "\(imported)")
            #expect(imported.stderr.contains("APP_EMPTY") && !imported.stderr.contains("STRIPE_KEY"), "\(imported)")
            #expect(try await names(cli) == ["APP_KEY"])
            let all = try await cli(["import", file, "-w", "prod"])
            #expect(all.status == 0 && all.stderr.contains("DEBUG"), "\(all)")
            #expect(try await names(cli) == ["APP_KEY", "STRIPE_KEY"])

            let fromEnvironment = try await cli(
                ["import", "--from-environment", "--match", "SEED_*", "-w", "prod"],
                env: ["SEED_API_KEY": "from-the-environment", "OTHER_KEY": "not-this"])
            #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
            #expect(try await names(cli) == ["APP_KEY", "STRIPE_KEY", "SEED_API_KEY"])
            #expect(try await cli(["secrets", "get", "SEED_API_KEY", "-w", "prod"]).stdout == "from-the-environment\n")
            let unbounded = try await cli(["import", "--from-environment", "-w", "prod"])
            #expect(unbounded.status == 2 && unbounded.stderr.contains("--match"), "\(unbounded)")
        }
    }

    @Test("Fernet values encrypted with a PBKDF2-derived key (seeds 000 and 002, made by Python) import with that derivation")
    func pbkdf2Fernet() async throws {
        let made = try await python(
            """
            import base64, sys
            from cryptography.fernet import Fernet
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
            kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=b"user-17:twin-4", iterations=100000)
            key = base64.urlsafe_b64encode(kdf.derive(b"seed-master-key-text"))
            print(Fernet(key).encrypt(b"ghp_oauth_token_value").decode())
            """)
        #expect(made.status == 0, "\(made)")
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let file = try cli.file("creds.env", "GITHUB_TOKEN=\(token)\n")
            let environment = ["SEED_MASTER": "seed-master-key-text"]
            let wrongSalt = try await cli(
                ["import", file, "-w", "prod", "--fernet-master-key-env", "SEED_MASTER", "--pbkdf2-salt", "user-17:twin-5"],
                env: environment)
            #expect(wrongSalt.status == 1 && wrongSalt.stderr.contains("decryption_failed"), "\(wrongSalt)")
            let imported = try await cli(
                ["import", file, "-w", "prod", "--fernet-master-key-env", "SEED_MASTER", "--pbkdf2-salt", "user-17:twin-4"],
                env: environment)
            #expect(imported.status == 0, "\(imported)")
            #expect(try await cli(["secrets", "get", "GITHUB_TOKEN", "-w", "prod"]).stdout == "ghp_oauth_token_value\n")
            let alone = try await cli(["import", file, "-w", "prod", "--pbkdf2-salt", "x"])
            #expect(alone.status == 2, "\(alone)")
        }
    }
}
