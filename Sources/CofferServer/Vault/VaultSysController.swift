import CofferCore
import Foundation
import Hummingbird
import Logging

/// `/v1/sys/…` and `/v1/auth/token/lookup-self`: what Vault clients ask before they read or write.
struct VaultSysController {
    let coffer: Coffer

    func add(to group: RouterGroup<CofferRequestContext>) {
        group.get("sys/health", use: health)
        group.head("sys/health", use: health)
        group.get("sys/mounts", use: mounts)
        group.get("sys/internal/ui/mounts/**", use: mount)
        group.get("auth/token/lookup-self", use: lookupSelf)
    }

    /// Vault's health answer, unwrapped as Vault's is; 503 when the store or key provider is not usable.
    func health(_ request: Request, context: CofferRequestContext) async throws -> Response {
        struct Health: Encodable, Sendable {
            let initialized = true
            let sealed = false
            let standby = false
            let performanceStandby = false
            let replicationPerformanceMode = "disabled"
            let replicationDRMode = "disabled"
            let serverTimeUTC: Int
            let version: String
            let clusterName = "coffer"

            enum CodingKeys: String, CodingKey {
                case initialized, sealed, standby, performanceStandby = "performance_standby"
                case replicationPerformanceMode = "replication_performance_mode"
                case replicationDRMode = "replication_dr_mode", serverTimeUTC = "server_time_utc", version
                case clusterName = "cluster_name"
            }
        }
        let healthy = await coffer.isHealthy()
        let body = Health(serverTimeUTC: Int(coffer.now().timeIntervalSince1970), version: "coffer-\(CofferAPI.version)")
        return VaultJSON.response(body, status: healthy ? .ok : .serviceUnavailable)
    }

    struct MountInfo: Encodable, Sendable {
        let type: String
        let path: String
        let description: String
        let options: [String: String]?
        let local = false
        let sealWrap = false

        enum CodingKeys: String, CodingKey { case type, path, description, options, local, sealWrap = "seal_wrap" }

        /// `mount`: the path segment that names the workspace (its name, or its id), echoed as the client used it.
        static func kv(_ workspace: WorkspaceView, mount: String) -> MountInfo {
            MountInfo(
                type: "kv", path: mount + "/", description: "Coffer workspace \(workspace.name) (KV v2)",
                options: ["version": "2"])
        }

        static func transit(_ workspace: WorkspaceView, mount: String) -> MountInfo {
            MountInfo(
                type: "transit", path: mount + "/transit/", description: "Coffer workspace \(workspace.name) (transit)",
                options: nil)
        }
    }

    /// The mount a path is under (`vault kv`'s first call): `<workspace>/…` is KV v2, `<workspace>/transit/…`
    /// transit.
    func mount(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let principal = try context.vaultPrincipal()
        let path = try context.catchAllPath()
        let segments = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)
        guard let first = segments.first else { throw VaultError(status: .badRequest, errors: ["no path given"]) }
        let workspace = try await coffer.workspaces.resolve(mount: String(first), for: principal, origin: context.origin)
        let mount = String(first)
        let info =
            segments.count > 1 && segments[1] == "transit"
            ? MountInfo.transit(workspace, mount: mount) : MountInfo.kv(workspace, mount: mount)
        return context.vault(info)
    }

    /// Every mount the caller can use: each of its workspaces as KV v2 and as transit.
    func mounts(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let principal = try context.vaultPrincipal()
        let workspaces: [WorkspaceView]
        if let token = principal.serviceToken {
            workspaces = [try await coffer.workspaces.resolve(mount: token.workspaceID, for: principal, origin: context.origin)]
        } else {
            workspaces = try await coffer.workspaces.list(for: principal)
        }
        // By name where the name is one path segment and the caller's only workspace of that name, else by id.
        let names = Dictionary(grouping: workspaces, by: \.name)
        var mounts: [String: MountInfo] = [:]
        for workspace in workspaces {
            let unique = names[workspace.name]?.count == 1 && !workspace.name.contains("/")
            let mount = unique ? workspace.name : workspace.id
            mounts[mount + "/"] = .kv(workspace, mount: mount)
            mounts[mount + "/transit/"] = .transit(workspace, mount: mount)
        }
        return context.vault(mounts)
    }

    /// The caller's token, described in Vault's shape (never the token itself).
    func lookupSelf(_ request: Request, context: CofferRequestContext) async throws -> Response {
        struct TokenInfo: Encodable, Sendable {
            let id = ""
            let accessor = ""
            let displayName: String
            let policies: [String]
            let meta: [String: String]
            let entityID: String
            let path: String
            let renewable = false
            let ttl = 0
            let type = "service"
            let orphan = true

            enum CodingKeys: String, CodingKey {
                case id, accessor, displayName = "display_name", policies, meta, entityID = "entity_id", path
                case renewable, ttl, type, orphan
            }
        }
        let principal = try context.vaultPrincipal()
        let info: TokenInfo
        if let token = principal.serviceToken {
            info = TokenInfo(
                displayName: "service-token", policies: ["coffer-\(token.role.rawValue)"],
                meta: ["workspace_id": token.workspaceID, "role": token.role.rawValue], entityID: principal.userID,
                path: "auth/coffer/service-token")
        } else {
            let user = try await coffer.accounts.user(principal)
            info = TokenInfo(
                displayName: user.username, policies: user.isAdmin ? ["coffer-user", "coffer-instance-admin"] : ["coffer-user"],
                meta: ["username": user.username], entityID: user.id, path: "auth/coffer/login")
        }
        return context.vault(info)
    }
}
