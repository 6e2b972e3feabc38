import CofferStore
import CofferTestSupport
import Foundation
import HTTPTypes
import Logging
import SQLKit
import Testing

@testable import CofferServer

// MARK: - Helpers private to this file

extension LiveServer {
    /// Logs an existing user in again (needed after the test clock moves past the token lifetime).
    fileprivate func relogin(_ name: String) async throws -> String {
        let login = try await call(.post, "/api/auth/login", body: json(["username": name, "password": Self.password]))
        #expect(login.status == 200, "login \(name): \(login.raw)")
        return login.text("access_token")
    }

    /// Creates a secret from a full body; expects 201 and returns the metadata reply.
    fileprivate func create(_ body: [String: Any], in ws: String, token: String) async throws -> Reply {
        let reply = try await call(.post, "/api/secrets/workspaces/\(ws)/secrets", token: token, body: json(body))
        #expect(reply.status == 201, "create \(body["name"] ?? "?"): \(reply.raw)")
        return reply
    }

    /// Adds `username` to a workspace with `role`.
    fileprivate func addMember(_ username: String, role: String, to ws: String, token: String) async throws {
        let reply = try await call(
            .post, "/api/workspaces/\(ws)/members", token: token, body: json(["username": username, "role": role]))
        #expect(reply.status == 201, "add \(username) as \(role): \(reply.raw)")
    }
}

/// The names of a list reply's items, in order.
private func names(_ reply: Reply) -> [String] { reply.items.compactMap { $0["name"] as? String } }

private func isISODate(_ value: Any?) -> Bool {
    guard let text = value as? String else { return false }
    return ISO8601DateFormatter().date(from: text) != nil
}

private func base64URLDecode(_ text: String) -> Data? {
    var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while s.count % 4 != 0 { s += "=" }
    return Data(base64Encoded: s)
}

private func isLowerHex(_ text: String) -> Bool { text.allSatisfy { "0123456789abcdef".contains($0) } }

/// Every stored ciphertext of a secret, read straight from the database file (as someone with file access would).
private func storedCiphertexts(of secretID: String, in directory: URL) async throws -> [Data] {
    let store = try await TestStore.open(directory)
    do {
        let rows = try await store.read { db in
            try await db.raw("SELECT ciphertext FROM secret_versions WHERE secret_id = \(bind: secretID) ORDER BY version")
                .all(decodingColumn: "ciphertext", as: Data.self)
        }
        await store.close()
        return rows
    } catch {
        await store.close()
        throw error
    }
}

/// The bytes of every file of the database (`coffer.db`, `coffer.db-wal`, `coffer.db-shm`, …).
private func databaseFiles(in directory: URL) throws -> [(name: String, bytes: Data)] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("coffer.db") }.sorted()
        .map { ($0, try Data(contentsOf: directory.appendingPathComponent($0))) }
}

/// Whether `needle` occurs in any database file; returns the file names that contain it.
private func filesContaining(_ needle: Data, in directory: URL) throws -> [String] {
    try databaseFiles(in: directory).filter { $0.bytes.range(of: needle) != nil }.map(\.name)
}

// MARK: - Tests

@Suite("Secret lifecycle API")
struct LifecycleAPITests {
    @Test("versions list newest first without values; old versions read exactly; rollback writes the old bytes as a new version")
    func versionsAndRollback() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let first = "line1\nline2\t\"quoted\" ünïcødé 🔑 \\ back / {json} \u{1}ctl"
            let second = "second-value-Ω"
            let third = "third-value-≈"
            let id = try await api.create(["name": "TRICKY", "value": first], in: ws, token: owner.token).text("id")
            for (n, value) in [second, third].enumerated() {
                let patched = try await api.call(.patch, "\(base)/\(id)", token: owner.token, body: api.json(["value": value]))
                #expect(patched.status == 200, "\(patched.raw)")
                #expect(patched["version"] as? Int == n + 2)
            }

            let versions = try await api.call(.get, "\(base)/\(id)/versions", token: owner.token)
            #expect(versions.status == 200, "\(versions.raw)")
            #expect(versions.items.compactMap { $0["version"] as? Int } == [3, 2, 1])
            #expect(versions.items.map { $0["is_current"] as? Bool } == [true, false, false])
            for item in versions.items {
                #expect(Set(item.keys) == ["version", "dek_version", "created_by_user_id", "created_at", "is_current"])
                #expect(item["dek_version"] as? Int == 1)
                #expect(item["created_by_user_id"] as? String == owner.id)
                #expect(isISODate(item["created_at"]))
            }
            for value in [first, second, third, "line1", "quoted", "second-value", "third-value"] {
                #expect(!versions.raw.contains(value), "the versions list leaks a value")
            }

            let v1 = try await api.call(.get, "\(base)/\(id)/value?version=1", token: owner.token)
            #expect(v1.status == 200)
            #expect(v1.text("value") == first)
            #expect(v1["version"] as? Int == 1)
            let v2 = try await api.call(.get, "\(base)/\(id)/value?version=2", token: owner.token)
            #expect(v2.text("value") == second)
            let current = try await api.call(.get, "\(base)/\(id)/value", token: owner.token)
            #expect(current.text("value") == third)
            #expect(current["version"] as? Int == 3)

            let rolledBack = try await api.call(
                .post, "\(base)/\(id)/rollback", token: owner.token, body: api.json(["version": 1]))
            #expect(rolledBack.status == 200, "\(rolledBack.raw)")
            #expect(rolledBack["version"] as? Int == 4)
            #expect(rolledBack.text("id") == id)
            #expect(rolledBack["value"] == nil)
            #expect(!rolledBack.raw.contains("line1"))
            let afterRollback = try await api.call(.get, "\(base)/\(id)/value", token: owner.token)
            #expect(afterRollback.status == 200)
            #expect(afterRollback.text("value") == first)
            #expect(afterRollback["version"] as? Int == 4)
            #expect(Array(afterRollback.text("value").utf8) == Array(first.utf8))

            let after = try await api.call(.get, "\(base)/\(id)/versions", token: owner.token)
            #expect(after.items.compactMap { $0["version"] as? Int } == [4, 3, 2, 1])
            #expect(after.items.map { $0["is_current"] as? Bool } == [true, false, false, false])

            let missing = try await api.call(
                .post, "\(base)/\(id)/rollback", token: owner.token, body: api.json(["version": 99]))
            #expect(missing.status == 404, "\(missing.raw)")
            #expect(missing.errorCode == "secret_not_found")
            let badType = try await api.call(.post, "\(base)/\(id)/rollback", token: owner.token, body: #"{"version":"x"}"#)
            #expect(badType.status == 422, "\(badType.raw)")
            #expect(badType.errorCode == "validation_failed")
            let zero = try await api.call(.post, "\(base)/\(id)/rollback", token: owner.token, body: #"{"version":0}"#)
            #expect(zero.status == 422, "\(zero.raw)")
            // Failed rollbacks changed nothing.
            let still = try await api.call(.get, "\(base)/\(id)/value", token: owner.token)
            #expect(still["version"] as? Int == 4)
            #expect(still.text("value") == first)
            // Versions of an unknown secret: 404.
            let unknown = try await api.call(
                .get, "\(base)/\(UUID().uuidString.lowercased())/versions", token: owner.token)
            #expect(unknown.status == 404)
        }
    }

    @Test("delete hides, restore brings back (409 on a name clash), purge destroys the ciphertexts on disk")
    func deleteRestorePurge() async throws {
        try await withLiveServer { api, directory in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let uniqueV1 = "purge-me-\(UUID().uuidString)-first"
            let uniqueV2 = "purge-me-\(UUID().uuidString)-second"
            let old = try await api.create(["name": "OLD", "value": uniqueV1], in: ws, token: owner.token).text("id")
            #expect(try await api.call(.patch, "\(base)/\(old)", token: owner.token, body: api.json(["value": uniqueV2])).status == 200)
            let keeper = try await api.create(["name": "KEEPER", "value": "keeper-\(UUID().uuidString)"], in: ws, token: owner.token).text("id")

            #expect(try await api.call(.delete, "\(base)/\(old)", token: owner.token).status == 204)
            let hidden = try await api.call(.get, base, token: owner.token)
            #expect(names(hidden) == ["KEEPER"])
            #expect(hidden["total"] as? Int == 1)
            let shown = try await api.call(.get, "\(base)?include_deleted=true", token: owner.token)
            #expect(names(shown) == ["KEEPER", "OLD"])
            #expect(shown["total"] as? Int == 2)
            #expect(shown.items.first { $0["id"] as? String == old }?["is_active"] as? Bool == false)
            let gone = try await api.call(.get, "\(base)/\(old)/value", token: owner.token)
            #expect(gone.status == 404)
            #expect(gone.errorCode == "secret_not_found")
            #expect(try await api.call(.get, "\(base)/\(old)", token: owner.token).status == 404)

            let restored = try await api.call(.post, "\(base)/\(old)/restore", token: owner.token)
            #expect(restored.status == 200, "\(restored.raw)")
            #expect(restored.text("id") == old)
            #expect(restored["is_active"] as? Bool == true)
            #expect(restored["version"] as? Int == 2)
            let back = try await api.call(.get, "\(base)/\(old)/value", token: owner.token)
            #expect(back.status == 200)
            #expect(back.text("value") == uniqueV2)
            #expect(names(try await api.call(.get, base, token: owner.token)) == ["KEEPER", "OLD"])

            // Deleted again; a new live secret takes the name; the old one can no longer be restored.
            #expect(try await api.call(.delete, "\(base)/\(old)", token: owner.token).status == 204)
            let newer = try await api.create(["name": "OLD", "value": "the-new-one"], in: ws, token: owner.token).text("id")
            #expect(newer != old)
            let clash = try await api.call(.post, "\(base)/\(old)/restore", token: owner.token)
            #expect(clash.status == 409, "\(clash.raw)")
            #expect(clash.errorCode == "secret_name_conflict")
            #expect(try await api.call(.get, "\(base)/\(newer)/value", token: owner.token).text("value") == "the-new-one")

            // The ciphertexts as stored, before the purge: present on disk (so the search below can find them).
            let ciphertexts = try await storedCiphertexts(of: old, in: directory)
            #expect(ciphertexts.count == 2)
            let keeperCiphertexts = try await storedCiphertexts(of: keeper, in: directory)
            #expect(keeperCiphertexts.count == 1)
            // The file checks read SQLite's files; on PostgreSQL the store suite checks the table's files instead.
            let onDisk = !TestStore.onPostgres
            for ciphertext in ciphertexts {
                #expect(ciphertext.count > 32)
                if onDisk {
                    #expect(try !filesContaining(ciphertext, in: directory).isEmpty, "a stored ciphertext is not on disk before the purge")
                }
            }

            let purged = try await api.call(.delete, "\(base)/\(old)?purge=true", token: owner.token)
            #expect(purged.status == 204, "\(purged.raw)")
            let all = try await api.call(.get, "\(base)?include_deleted=true", token: owner.token)
            #expect(!all.items.contains { $0["id"] as? String == old })
            #expect(names(all) == ["KEEPER", "OLD"])
            #expect(all["total"] as? Int == 2)
            let restoreGone = try await api.call(.post, "\(base)/\(old)/restore", token: owner.token)
            #expect(restoreGone.status == 404)
            #expect(restoreGone.errorCode == "secret_not_found")
            #expect(try await api.call(.delete, "\(base)/\(old)?purge=true", token: owner.token).status == 404)
            #expect(try await api.call(.get, "\(base)/\(old)/versions", token: owner.token).status == 404)

            // No byte string of the purged ciphertexts is left in any database file.
            #expect(try await storedCiphertexts(of: old, in: directory).isEmpty)
            if onDisk {
                let files = try databaseFiles(in: directory)
                #expect(files.contains { $0.name == "coffer.db" })
                for (index, ciphertext) in ciphertexts.enumerated() {
                    let holders = try filesContaining(ciphertext, in: directory)
                    #expect(holders.isEmpty, "ciphertext of version \(index + 1) still in \(holders) after the purge")
                }
                // The untouched secret's ciphertext is still found, and it still reads.
                for ciphertext in keeperCiphertexts {
                    #expect(try !filesContaining(ciphertext, in: directory).isEmpty)
                }
            }
            #expect(try await api.call(.get, "\(base)/\(keeper)/value", token: owner.token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(newer)/value", token: owner.token).text("value") == "the-new-one")

            // A live secret can be purged directly.
            #expect(try await api.call(.delete, "\(base)/\(newer)?purge=true", token: owner.token).status == 204)
            #expect(names(try await api.call(.get, "\(base)?include_deleted=true", token: owner.token)) == ["KEEPER"])

            // The workspace trail records the purges.
            let trail = try await api.call(
                .get, "/api/secrets/workspaces/\(ws)/audit?action=purged", token: owner.token)
            #expect(trail.status == 200, "\(trail.raw)")
            #expect(trail["total"] as? Int == 2)
            #expect(trail.items.map { $0["secret_id"] as? String } == [newer, old])
            #expect(trail.items.allSatisfy { $0["action"] as? String == "purged" && $0["success"] as? Bool == true })
            #expect((trail.items.last?["details"] as? [String: Any])?["name"] as? String == "OLD")
            for value in [uniqueV1, uniqueV2] { #expect(!trail.raw.contains(value)) }
            let restores = try await api.call(
                .get, "/api/secrets/workspaces/\(ws)/audit?action=restored", token: owner.token)
            #expect(restores["total"] as? Int == 1)
        }
    }

    @Test("list filters: tag, secret_type (and its alias), name_prefix (no wildcards), combined; name order; total counts matches")
    func listingFilters() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let specs: [[String: Any]] = [
                ["name": "DB_PASS", "value": "p1", "secret_type": "database_cred", "tags": ["prod", "db_main"]],
                ["name": "DBXPASS", "value": "p2", "secret_type": "database_credential", "tags": ["prod", "dbXmain"]],
                ["name": "DB_USER", "value": "p3", "secret_type": "password", "tags": ["staging", "db_main"]],
                ["name": "API_KEY", "value": "p4", "secret_type": "api_key", "tags": ["prod"]],
                ["name": "OTHER", "value": "p5"],
                ["name": "DB_OLD", "value": "p6", "secret_type": "database_credential", "tags": ["prod", "db_main"]],
            ]
            var ids: [String: String] = [:]
            for spec in specs {
                let reply = try await api.create(spec, in: ws, token: owner.token)
                ids[spec["name"] as! String] = reply.text("id")
            }
            let aliasCreated = try await api.call(.get, "\(base)/\(ids["DB_PASS"]!)", token: owner.token)
            #expect(aliasCreated.text("secret_type") == "database_credential")
            #expect(try await api.call(.get, "\(base)/\(ids["OTHER"]!)", token: owner.token).text("secret_type") == "generic")
            #expect(try await api.call(.delete, "\(base)/\(ids["DB_OLD"]!)", token: owner.token).status == 204)

            let cases: [(query: String, expected: [String])] = [
                ("", ["API_KEY", "DBXPASS", "DB_PASS", "DB_USER", "OTHER"]),
                ("include_deleted=true", ["API_KEY", "DBXPASS", "DB_OLD", "DB_PASS", "DB_USER", "OTHER"]),
                ("include_deleted=false", ["API_KEY", "DBXPASS", "DB_PASS", "DB_USER", "OTHER"]),
                ("name_prefix=DB_", ["DB_PASS", "DB_USER"]),
                ("name_prefix=DB", ["DBXPASS", "DB_PASS", "DB_USER"]),
                ("name_prefix=DB_&include_deleted=true", ["DB_OLD", "DB_PASS", "DB_USER"]),
                ("name_prefix=D_", []),
                ("name_prefix=db_", []),
                ("name_prefix=DB_PASS", ["DB_PASS"]),
                ("name_prefix=DB_PASSWORD", []),
                ("tag=prod", ["API_KEY", "DBXPASS", "DB_PASS"]),
                ("tag=db_main", ["DB_PASS", "DB_USER"]),
                ("tag=db_main&include_deleted=true", ["DB_OLD", "DB_PASS", "DB_USER"]),
                ("tag=pro", []),
                ("tag=db", []),
                ("tag=staging", ["DB_USER"]),
                ("tag=nothing", []),
                ("secret_type=database_credential", ["DBXPASS", "DB_PASS"]),
                ("secret_type=database_cred", ["DBXPASS", "DB_PASS"]),
                ("secret_type=password", ["DB_USER"]),
                ("secret_type=generic", ["OTHER"]),
                ("secret_type=ssh_key", []),
                ("secret_type=database_cred&tag=db_main", ["DB_PASS"]),
                ("secret_type=database_cred&tag=db_main&name_prefix=DB_", ["DB_PASS"]),
                ("tag=prod&name_prefix=DB_", ["DB_PASS"]),
                ("tag=prod&secret_type=api_key", ["API_KEY"]),
                ("tag=staging&secret_type=database_credential", []),
            ]
            for (query, expected) in cases {
                let reply = try await api.call(.get, "\(base)?\(query)", token: owner.token)
                #expect(reply.status == 200, "\(query): \(reply.raw)")
                #expect(names(reply) == expected, "\(query)")
                #expect(reply["total"] as? Int == expected.count, "\(query)")
                #expect(reply.items.allSatisfy { $0["value"] == nil })
            }

            // Tags match exactly, letter case included (tags are case-sensitive strings).
            let upper = try await api.call(.get, "\(base)?tag=PROD", token: owner.token)
            #expect(upper.status == 200)
            #expect(names(upper) == [], "tag=PROD matched secrets tagged `prod`")
            #expect(upper["total"] as? Int == 0)

            // Pagination over a filter: total counts every match, items are the page.
            let page1 = try await api.call(.get, "\(base)?name_prefix=DB&limit=1", token: owner.token)
            #expect(names(page1) == ["DBXPASS"])
            #expect(page1["total"] as? Int == 3)
            #expect(page1["limit"] as? Int == 1)
            let page2 = try await api.call(.get, "\(base)?name_prefix=DB&limit=2&offset=1", token: owner.token)
            #expect(names(page2) == ["DB_PASS", "DB_USER"])
            #expect(page2["total"] as? Int == 3)
            #expect(page2["offset"] as? Int == 1)
            let beyond = try await api.call(.get, "\(base)?name_prefix=DB&offset=10", token: owner.token)
            #expect(names(beyond) == [])
            #expect(beyond["total"] as? Int == 3)

            for query in ["limit=1001", "include_deleted=maybe", "secret_type=banana", "limit=0", "offset=-1"] {
                let reply = try await api.call(.get, "\(base)?\(query)", token: owner.token)
                #expect(reply.status == 422, "\(query): \(reply.raw)")
                #expect(reply.errorCode == "validation_failed", "\(query)")
            }
            #expect(try await api.call(.get, "\(base)?limit=1000", token: owner.token).status == 200)
        }
    }

    @Test("rotation-due and statistics: routed (not taken as a secret id), correct shapes and counts as the clock moves")
    func rotationDueAndStatistics() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            var token = owner.token
            let ws = try await api.workspace("w", token: token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let manual = try await api.create(
                ["name": "MANUAL", "value": "m", "secret_type": "api_key", "rotation_policy": "manual"], in: ws, token: token
            ).text("id")
            let monthly = try await api.create(
                ["name": "MONTHLY", "value": "30", "secret_type": "database_cred", "rotation_policy": "auto_30_days"],
                in: ws, token: token
            ).text("id")
            let yearly = try await api.create(
                ["name": "YEARLY", "value": "365", "secret_type": "password", "rotation_policy": "auto_365_days"],
                in: ws, token: token
            ).text("id")
            let gone = try await api.create(
                ["name": "GONE", "value": "g", "rotation_policy": "auto_30_days"], in: ws, token: token
            ).text("id")
            #expect(try await api.call(.delete, "\(base)/\(gone)", token: token).status == 204)

            // Three successful reads, two failed ones (a missing version, a deleted secret).
            #expect(try await api.call(.get, "\(base)/\(manual)/value", token: token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(manual)/value", token: token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(monthly)/value", token: token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(manual)/value?version=9", token: token).status == 404)
            #expect(try await api.call(.get, "\(base)/\(gone)/value", token: token).status == 404)

            let dueNow = try await api.call(.get, "\(base)/rotation-due?days_ahead=7", token: token)
            #expect(dueNow.status == 200, "rotation-due: \(dueNow.raw)")
            #expect(Set(dueNow.string.keys) == ["items", "days_ahead"])
            #expect(dueNow.items.isEmpty)
            #expect(dueNow["days_ahead"] as? Int == 7)

            let stats = try await api.call(.get, "\(base)/statistics", token: token)
            #expect(stats.status == 200, "statistics: \(stats.raw)")
            #expect(
                Set(stats.string.keys) == [
                    "total_secrets", "active_secrets", "deleted_secrets", "by_type", "by_rotation_policy",
                    "due_within_7_days", "overdue", "accesses_last_24h", "failed_accesses_last_24h",
                ])
            #expect(stats["total_secrets"] as? Int == 4)
            #expect(stats["active_secrets"] as? Int == 3)
            #expect(stats["deleted_secrets"] as? Int == 1)
            #expect(stats["by_type"] as? [String: Int] == ["api_key": 1, "database_credential": 1, "password": 1])
            #expect(stats["by_rotation_policy"] as? [String: Int] == ["manual": 1, "auto_30_days": 1, "auto_365_days": 1])
            #expect(stats["due_within_7_days"] as? Int == 0)
            #expect(stats["overdue"] as? Int == 0)
            #expect(stats["accesses_last_24h"] as? Int == 3)
            #expect(stats["failed_accesses_last_24h"] as? Int == 2)

            // 24 days later the 30-day secret is due within a week; nothing else is.
            api.clock.advance(by: 24 * 86_400)
            token = try await api.relogin("owner")
            let due = try await api.call(.get, "\(base)/rotation-due?days_ahead=7", token: token)
            #expect(due.status == 200)
            #expect(due.items.compactMap { $0["id"] as? String } == [monthly])
            #expect(due.items.first?["value"] == nil)
            #expect(due["days_ahead"] as? Int == 7)
            let defaultDays = try await api.call(.get, "\(base)/rotation-due", token: token)
            #expect(defaultDays["days_ahead"] as? Int == 7)
            #expect(defaultDays.items.compactMap { $0["id"] as? String } == [monthly])
            let fiveDays = try await api.call(.get, "\(base)/rotation-due?days_ahead=5", token: token)
            #expect(fiveDays.items.isEmpty)
            #expect(fiveDays["days_ahead"] as? Int == 5)
            let later = try await api.call(.get, "\(base)/statistics", token: token)
            #expect(later["due_within_7_days"] as? Int == 1)
            #expect(later["overdue"] as? Int == 0)
            #expect(later["accesses_last_24h"] as? Int == 0)
            #expect(later["failed_accesses_last_24h"] as? Int == 0)

            // A week more: it is overdue, and listed even with days_ahead=0; the yearly one comes after it.
            api.clock.advance(by: 7 * 86_400)
            token = try await api.relogin("owner")
            let overdue = try await api.call(.get, "\(base)/rotation-due?days_ahead=0", token: token)
            #expect(overdue.items.compactMap { $0["id"] as? String } == [monthly])
            let everything = try await api.call(.get, "\(base)/rotation-due?days_ahead=3650", token: token)
            #expect(everything.items.compactMap { $0["id"] as? String } == [monthly, yearly])
            let overdueStats = try await api.call(.get, "\(base)/statistics", token: token)
            #expect(overdueStats["overdue"] as? Int == 1)
            #expect(overdueStats["due_within_7_days"] as? Int == 0)

            // Rotating it restarts its period.
            let rotated = try await api.call(
                .post, "\(base)/\(monthly)/rotate", token: token, body: api.json(["new_value": "30-b"]))
            #expect(rotated.status == 200)
            #expect(try await api.call(.get, "\(base)/rotation-due?days_ahead=0", token: token).items.isEmpty)

            for query in ["days_ahead=abc", "days_ahead=-1", "days_ahead=3651"] {
                let bad = try await api.call(.get, "\(base)/rotation-due?\(query)", token: token)
                #expect(bad.status == 422, "\(query): \(bad.raw)")
                #expect(bad.errorCode == "validation_failed")
            }
            // Non-members get 404 for both.
            let outsider = try await api.user("outsider", admin: token)
            #expect(try await api.call(.get, "\(base)/rotation-due", token: outsider.token).status == 404)
            #expect(try await api.call(.get, "\(base)/statistics", token: outsider.token).status == 404)
        }
    }

    @Test("workspace audit: filters, paging, newest first; readers 403, non-members 404, bad filters 422")
    func workspaceAudit() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let reader = try await api.user("reader", admin: owner.token)
            let outsider = try await api.user("outsider", admin: owner.token)
            let ws = try await api.workspace("w", token: owner.token)
            try await api.addMember("reader", role: "reader", to: ws, token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let audit = "/api/secrets/workspaces/\(ws)/audit"
            let id = try await api.secret("S1", value: "audited-value", in: ws, token: owner.token)

            // Everything after this instant: 4 reads (2 ok, 2 failed) and 2 refused audit listings.
            api.clock.advance(by: 600)
            let since = ISO8601DateFormatter().string(from: api.clock.now)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: owner.token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: owner.token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(id)/value?version=9", token: owner.token).status == 404)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: outsider.token).status == 404)
            let readerDenied = try await api.call(.get, audit, token: reader.token)
            #expect(readerDenied.status == 403, "\(readerDenied.raw)")
            #expect(readerDenied.errorCode == "forbidden")
            let outsiderDenied = try await api.call(.get, audit, token: outsider.token)
            #expect(outsiderDenied.status == 404, "\(outsiderDenied.raw)")
            #expect(outsiderDenied.errorCode == "workspace_not_found")

            let full = try await api.call(.get, "\(audit)?limit=1000", token: owner.token)
            #expect(full.status == 200, "\(full.raw)")
            #expect(Set(full.string.keys) == ["items", "total", "limit", "offset"])
            let all = full.items
            #expect(full["total"] as? Int == all.count)
            #expect(full["limit"] as? Int == 1000)
            #expect(full["offset"] as? Int == 0)
            // member added, secret created, then the six records after `since`.
            #expect(all.count == 8)
            let sequences = all.compactMap { $0["sequence"] as? Int }
            #expect(sequences.count == all.count)
            #expect(sequences == sequences.sorted(by: >), "not newest first")
            #expect(Set(sequences).count == sequences.count)
            #expect(all.allSatisfy { $0["workspace_id"] as? String == ws })
            #expect(!full.raw.contains("audited-value"))
            #expect(all.first?["action"] as? String == "listed")  // the outsider's refused listing, the newest
            #expect(all.last?["action"] as? String == "updated")  // the member added first

            let defaults = try await api.call(.get, audit, token: owner.token)
            #expect(defaults["limit"] as? Int == 50)
            #expect(defaults["offset"] as? Int == 0)

            let page = try await api.call(.get, "\(audit)?limit=2&offset=1", token: owner.token)
            #expect(page["total"] as? Int == all.count)
            #expect(page["limit"] as? Int == 2)
            #expect(page["offset"] as? Int == 1)
            #expect(page.items.map { $0["id"] as? String } == all[1...2].map { $0["id"] as? String })

            let accessed = try await api.call(.get, "\(audit)?action=accessed", token: owner.token)
            #expect(accessed["total"] as? Int == 4)
            #expect(accessed.items.count == 4)
            #expect(accessed.items.allSatisfy { $0["action"] as? String == "accessed" })
            #expect(accessed.items.filter { $0["success"] as? Bool == true }.count == 2)

            let failures = try await api.call(.get, "\(audit)?success=false", token: owner.token)
            #expect(failures["total"] as? Int == 4)
            #expect(failures.items.allSatisfy { $0["success"] as? Bool == false })
            #expect(
                failures.items.map { $0["id"] as? String }
                    == all.filter { $0["success"] as? Bool == false }.map { $0["id"] as? String })
            #expect(Set(failures.items.compactMap { $0["user_id"] as? String }) == [owner.id, outsider.id, reader.id])

            let successes = try await api.call(.get, "\(audit)?success=true", token: owner.token)
            #expect(successes["total"] as? Int == all.count - 4)
            #expect(successes.items.allSatisfy { $0["success"] as? Bool == true })

            let failedReads = try await api.call(.get, "\(audit)?action=accessed&success=false", token: owner.token)
            #expect(failedReads["total"] as? Int == 2)
            #expect(Set(failedReads.items.compactMap { $0["user_id"] as? String }) == [owner.id, outsider.id])

            let recent = try await api.call(.get, "\(audit)?since=\(since)", token: owner.token)
            #expect(recent.status == 200, "\(recent.raw)")
            #expect(recent["total"] as? Int == 6)
            #expect(recent.items.map { $0["id"] as? String } == all.prefix(6).map { $0["id"] as? String })
            let sinceDate = try #require(ISO8601DateFormatter().date(from: since))
            for item in recent.items {
                let created = ISO8601DateFormatter().date(from: item["created_at"] as? String ?? "")
                #expect(created.map { $0 >= sinceDate } == true)
            }
            let recentAccessed = try await api.call(
                .get, "\(audit)?since=\(since)&action=accessed&success=true&limit=1", token: owner.token)
            #expect(recentAccessed["total"] as? Int == 2)
            #expect(recentAccessed.items.count == 1)
            let future = ISO8601DateFormatter().string(from: api.clock.now.addingTimeInterval(3_600))
            let none = try await api.call(.get, "\(audit)?since=\(future)", token: owner.token)
            #expect(none.status == 200)
            #expect(none["total"] as? Int == 0)
            #expect(none.items.isEmpty)

            for query in ["action=bogus", "since=yesterday", "success=maybe", "limit=0", "limit=1001", "offset=-1", "limit=x"] {
                let bad = try await api.call(.get, "\(audit)?\(query)", token: owner.token)
                #expect(bad.status == 422, "\(query): \(bad.raw)")
                #expect(bad.errorCode == "validation_failed", "\(query)")
            }
            #expect(try await api.call(.get, audit).status == 401)
            let unknownWorkspace = try await api.call(
                .get, "/api/secrets/workspaces/\(UUID().uuidString.lowercased())/audit", token: owner.token)
            #expect(unknownWorkspace.status == 404)
        }
    }

    @Test("generated secrets: made by Coffer, rotated with an empty body; bad generate specs and bodies are 422")
    func generatedSecrets() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let created = try await api.call(
                .post, base, token: owner.token,
                body: #"{"name":"GEN","generate":{"length":40,"charset":"hex"},"rotation_policy":"auto_30_days"}"#)
            #expect(created.status == 201, "\(created.raw)")
            #expect(created["version"] as? Int == 1)
            #expect(created["value"] == nil)
            #expect(created.text("rotation_policy") == "auto_30_days")
            let id = created.text("id")
            let first = try await api.call(.get, "\(base)/\(id)/value", token: owner.token).text("value")
            #expect(first.count == 40)
            #expect(isLowerHex(first), "\(first)")
            #expect(!created.raw.contains(first))

            let rotated = try await api.call(.post, "\(base)/\(id)/rotate", token: owner.token)
            #expect(rotated.status == 200, "\(rotated.raw)")
            #expect(rotated["version"] as? Int == 2)
            let second = try await api.call(.get, "\(base)/\(id)/value", token: owner.token)
            #expect(second["version"] as? Int == 2)
            let secondValue = second.text("value")
            #expect(secondValue.count == 40)
            #expect(isLowerHex(secondValue))
            #expect(secondValue != first)
            #expect(try await api.call(.get, "\(base)/\(id)/value?version=1", token: owner.token).text("value") == first)
            // `{}` is an empty rotation request too; an explicit new_value still wins.
            #expect(try await api.call(.post, "\(base)/\(id)/rotate", token: owner.token, body: "{}").status == 200)
            let given = try await api.call(
                .post, "\(base)/\(id)/rotate", token: owner.token, body: api.json(["new_value": "chosen-by-hand"]))
            #expect(given["version"] as? Int == 4)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: owner.token).text("value") == "chosen-by-hand")

            // Defaults: 32 alphanumeric characters.
            let defaulted = try await api.create(["name": "GEN_DEFAULT", "generate": [String: Any]()], in: ws, token: owner.token)
            let defaultValue = try await api.call(.get, "\(base)/\(defaulted.text("id"))/value", token: owner.token).text("value")
            #expect(defaultValue.count == 32)
            #expect(defaultValue.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })

            // A secret with a given value needs a new value to rotate.
            let plain = try await api.secret("PLAIN", value: "plain-value", in: ws, token: owner.token)
            for body: String? in [nil, "{}"] {
                let reply = try await api.call(.post, "\(base)/\(plain)/rotate", token: owner.token, body: body)
                #expect(reply.status == 422, "\(body ?? "no body"): \(reply.raw)")
                #expect(reply.errorCode == "validation_failed")
            }
            let unchanged = try await api.call(.get, "\(base)/\(plain)/value", token: owner.token)
            #expect(unchanged.text("value") == "plain-value")
            #expect(unchanged["version"] as? Int == 1)

            let bad: [String] = [
                #"{"name":"BOTH","value":"v","generate":{"length":40,"charset":"hex"}}"#,
                #"{"name":"SHORT","generate":{"length":3,"charset":"hex"}}"#,
                #"{"name":"EMOJI","generate":{"length":40,"charset":"emoji"}}"#,
                #"{"name":"HUGE","generate":{"length":4097}}"#,
                #"{"name":"NOTOBJ","generate":"hex"}"#,
                #"{"name":"NEITHER"}"#,
            ]
            for body in bad {
                let reply = try await api.call(.post, base, token: owner.token, body: body)
                #expect(reply.status == 422, "\(body): \(reply.raw)")
                #expect(reply.errorCode == "validation_failed", "\(body)")
            }
            let list = try await api.call(.get, base, token: owner.token)
            #expect(names(list) == ["GEN", "GEN_DEFAULT", "PLAIN"])
        }
    }

    @Test("admin endpoints: 401 without a token, 403 for a non-admin, seed 004's shapes for the instance admin")
    func adminEndpoints() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("admin")
            let bob = try await api.user("bob", admin: admin.token)
            let ws = try await api.workspace("bobs", token: bob.token)
            let bobSecret = try await api.secret("BOB_SECRET", value: "bob-value", in: ws, token: bob.token)

            let endpoints: [(HTTPRequest.Method, String)] = [
                (.post, "/api/secrets/admin/encryption/rotate-key"),
                (.get, "/api/secrets/admin/encryption/rotation-status"),
                (.get, "/api/secrets/admin/encryption/health"),
                (.post, "/api/secrets/admin/encryption/generate-key"),
                (.get, "/api/secrets/admin/audit/verify"),
            ]
            for (method, path) in endpoints {
                let anonymous = try await api.call(method, path)
                #expect(anonymous.status == 401, "\(path): \(anonymous.raw)")
                #expect(anonymous.errorCode == "authentication_required", "\(path)")
                let denied = try await api.call(method, path, token: bob.token)
                #expect(denied.status == 403, "\(path): \(denied.raw)")
                #expect(denied.errorCode == "forbidden", "\(path)")
                #expect(denied["key"] == nil && denied["jobs"] == nil)
            }
            // Bob's refused rotate-key did nothing.
            let status = try await api.call(.get, "/api/secrets/admin/encryption/rotation-status", token: admin.token)
            #expect(status.status == 200, "\(status.raw)")
            #expect(status["in_progress"] as? Bool == false)
            #expect((status["jobs"] as? [Any])?.isEmpty == true)
            let bobsVersions = try await api.call(
                .get, "/api/secrets/workspaces/\(ws)/secrets/\(bobSecret)/versions", token: bob.token)
            #expect(bobsVersions.items.map { $0["dek_version"] as? Int } == [1])

            let health = try await api.call(.get, "/api/secrets/admin/encryption/health", token: admin.token)
            #expect(health.status == 200, "\(health.raw)")
            #expect(Set(health.string.keys) == ["current_backend", "health_status"])
            #expect(health.text("current_backend") == "fernet")
            let backends = try #require(health["health_status"] as? [String: Any])
            #expect(Set(backends.keys) == ["fernet"])
            let fernet = try #require(backends["fernet"] as? [String: Any])
            #expect(Set(fernet.keys) == ["healthy", "key_id", "last_check"])
            #expect(fernet["healthy"] as? Bool == true)
            #expect((fernet["key_id"] as? String)?.isEmpty == false)
            #expect(isISODate(fernet["last_check"]))

            let key1 = try await api.call(.post, "/api/secrets/admin/encryption/generate-key", token: admin.token)
            let key2 = try await api.call(.post, "/api/secrets/admin/encryption/generate-key", token: admin.token)
            #expect(key1.status == 200, "\(key1.raw)")
            #expect(key2.status == 200)
            for reply in [key1, key2] {
                let key = reply.text("key")
                #expect(!key.contains("+") && !key.contains("/"), "not url-safe: \(key)")
                #expect(base64URLDecode(key)?.count == 32, "\(key)")
            }
            #expect(key1.text("key") != key2.text("key"))
            #expect(key1.text("key").isEmpty == false)

            let verify = try await api.call(.get, "/api/secrets/admin/audit/verify", token: admin.token)
            #expect(verify.status == 200, "\(verify.raw)")
            #expect(Set(verify.string.keys) == ["checked", "first_bad_sequence", "intact"])
            #expect((verify["checked"] as? Int ?? 0) > 0)
            #expect(verify["first_bad_sequence"] is NSNull)
            #expect(verify["intact"] as? Bool == true)
        }
    }

    @Test("DEK rotation over HTTP: 202 job, re-encryption completes, every value still reads, writes keep working")
    func dekRotation() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("admin")
            let ws1 = try await api.workspace("one", token: admin.token)
            let ws2 = try await api.workspace("two", token: admin.token)
            func base(_ ws: String) -> String { "/api/secrets/workspaces/\(ws)/secrets" }
            var values: [(ws: String, id: String, value: String)] = []
            for (w, ws) in [ws1, ws2].enumerated() {
                for i in 0..<25 {
                    let value = "value-\(w)-\(i)-\(UUID().uuidString)-ünï 🔑"
                    let id = try await api.create(["name": "S_\(w)_\(i)", "value": value], in: ws, token: admin.token).text("id")
                    values.append((ws, id, value))
                }
            }
            // Five secrets of the first workspace get a second version.
            for index in 0..<5 {
                let value = values[index].value + "-v2"
                let reply = try await api.call(
                    .patch, "\(base(ws1))/\(values[index].id)", token: admin.token, body: api.json(["value": value]))
                #expect(reply.status == 200)
                values[index].value = value
            }

            func waitForJobs() async throws -> [[String: Any]] {
                for _ in 0..<100 {
                    let status = try await api.call(.get, "/api/secrets/admin/encryption/rotation-status", token: admin.token)
                    #expect(status.status == 200, "\(status.raw)")
                    let jobs = status["jobs"] as? [[String: Any]] ?? []
                    if status["in_progress"] as? Bool == false, jobs.first?["status"] as? String != "running" {
                        return jobs
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                Issue.record("the re-encryption job did not finish within 100 polls")
                return []
            }

            func checkValues(_ label: String) async throws {
                for entry in values {
                    let read = try await api.call(.get, "\(base(entry.ws))/\(entry.id)/value", token: admin.token)
                    #expect(read.status == 200, "\(label): \(read.raw)")
                    #expect(read.text("value") == entry.value, "\(label)")
                }
            }

            let started = try await api.call(.post, "/api/secrets/admin/encryption/rotate-key", token: admin.token)
            #expect(started.status == 202, "\(started.raw)")
            for field in ["id", "status", "total", "done", "remaining", "started_at", "finished_at"] {
                #expect(started.string.keys.contains(field), "rotate-key lacks \(field)")
            }
            #expect(started["total"] as? Int == 55)
            #expect(started["done"] as? Int == 0)
            #expect(started["remaining"] as? Int == 55)
            #expect(started.text("status") == "running")
            #expect(started["workspace_id"] is NSNull)
            #expect(isISODate(started["started_at"]))
            #expect(started["finished_at"] is NSNull)
            let jobID = started.text("id")

            // Writes while the job runs.
            values[0].value = "during-\(UUID().uuidString)"
            let during = try await api.call(
                .patch, "\(base(ws1))/\(values[0].id)", token: admin.token, body: api.json(["value": values[0].value]))
            #expect(during.status == 200, "\(during.raw)")
            let duringValue = "created-during-\(UUID().uuidString)"
            let duringID = try await api.create(["name": "DURING", "value": duringValue], in: ws2, token: admin.token).text("id")
            values.append((ws2, duringID, duringValue))

            let jobs = try await waitForJobs()
            let job = try #require(jobs.first)
            #expect(job["id"] as? String == jobID)
            #expect(job["status"] as? String == "completed")
            #expect(job["done"] as? Int == job["total"] as? Int)
            #expect(job["done"] as? Int == 55)
            #expect(job["remaining"] as? Int == 0)
            #expect(isISODate(job["finished_at"]))
            try await checkValues("after the first rotation")

            // Every version, old ones included, is now under each workspace's second data key.
            for entry in [values[0], values[1], values[30], values.last!] {
                let versions = try await api.call(.get, "\(base(entry.ws))/\(entry.id)/versions", token: admin.token)
                #expect(!versions.items.isEmpty)
                #expect(versions.items.allSatisfy { $0["dek_version"] as? Int == 2 }, "\(versions.raw)")
            }

            // Writes after the job.
            let afterValue = "after-\(UUID().uuidString)"
            let afterID = try await api.create(["name": "AFTER", "value": afterValue], in: ws1, token: admin.token).text("id")
            values.append((ws1, afterID, afterValue))
            #expect(try await api.call(.get, "\(base(ws1))/\(afterID)/value", token: admin.token).text("value") == afterValue)

            // An unknown workspace: 404, and no job.
            let unknown = try await api.call(
                .post, "/api/secrets/admin/encryption/rotate-key", token: admin.token,
                body: api.json(["workspace_id": UUID().uuidString.lowercased()]))
            #expect(unknown.status == 404, "\(unknown.raw)")
            #expect(unknown.errorCode == "workspace_not_found")

            // One workspace only.
            api.clock.advance(by: 1)
            let scoped = try await api.call(
                .post, "/api/secrets/admin/encryption/rotate-key", token: admin.token, body: api.json(["workspace_id": ws1]))
            #expect(scoped.status == 202, "\(scoped.raw)")
            #expect(scoped.text("workspace_id") == ws1)
            // ws1: 25 secrets + 5 second versions + 1 written during the job + AFTER.
            #expect(scoped["total"] as? Int == 32)
            let scopedJobs = try await waitForJobs()
            #expect(scopedJobs.count == 2)
            #expect(scopedJobs.first?["id"] as? String == scoped.text("id"))
            #expect(scopedJobs.first?["status"] as? String == "completed")
            #expect(scopedJobs.first?["done"] as? Int == scopedJobs.first?["total"] as? Int)
            try await checkValues("after the workspace rotation")
            let ws1Versions = try await api.call(.get, "\(base(ws1))/\(values[0].id)/versions", token: admin.token)
            #expect(ws1Versions.items.allSatisfy { $0["dek_version"] as? Int == 3 }, "\(ws1Versions.raw)")
            let ws2Versions = try await api.call(.get, "\(base(ws2))/\(values[30].id)/versions", token: admin.token)
            #expect(ws2Versions.items.allSatisfy { $0["dek_version"] as? Int == 2 }, "\(ws2Versions.raw)")
            let written = try await api.call(
                .patch, "\(base(ws1))/\(values[2].id)", token: admin.token, body: api.json(["value": "final"]))
            #expect(written.status == 200)
            #expect(try await api.call(.get, "\(base(ws1))/\(values[2].id)/value", token: admin.token).text("value") == "final")

            let verify = try await api.call(.get, "/api/secrets/admin/audit/verify", token: admin.token)
            #expect(verify["intact"] as? Bool == true)
        }
    }
}
