import CofferCore
import Foundation
import Hummingbird

/// `/api/auth`: registration, login, the current user.
struct AuthController {
    let accounts: AccountService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post("register", use: register)
            .post("login", use: login)
            .get("me", use: me)
    }

    func register(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<UserView> {
        let credentials = try await JSONCoding.decode(Credentials.self, from: request, context: context)
        return JSONResponse(try await accounts.register(credentials, caller: context.principal), status: .created)
    }

    func login(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<TokenGrant> {
        let credentials = try await JSONCoding.decode(Credentials.self, from: request, context: context)
        return JSONResponse(try await accounts.login(credentials))
    }

    func me(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<UserView> {
        JSONResponse(try await accounts.user(try context.requirePrincipal()))
    }
}

/// `/api/workspaces`: workspaces and their members.
struct WorkspacesController {
    let workspaces: WorkspaceService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post(use: create)
            .get(use: list)
            .post(":workspace_id/members", use: addMember)
            .get(":workspace_id/members", use: members)
            .delete(":workspace_id/members/:user_id", use: removeMember)
    }

    struct WorkspaceList: Encodable, Sendable { let items: [WorkspaceView] }

    func create(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<WorkspaceView> {
        let principal = try context.requirePrincipal()
        let input = try await JSONCoding.decode(WorkspaceCreate.self, from: request, context: context)
        return JSONResponse(try await workspaces.create(input, by: principal), status: .created)
    }

    func list(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<WorkspaceList> {
        JSONResponse(WorkspaceList(items: try await workspaces.list(for: try context.requirePrincipal())))
    }

    func addMember(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<MemberView> {
        let principal = try context.requirePrincipal()
        let input = try await JSONCoding.decode(MemberAdd.self, from: request, context: context)
        let member = try await workspaces.addMember(
            input, to: try context.parameters.require("workspace_id"), by: principal, origin: context.origin)
        return JSONResponse(member, status: .created)
    }

    struct MemberList: Encodable, Sendable { let items: [MemberView] }

    func members(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<MemberList> {
        let principal = try context.requirePrincipal()
        let items = try await workspaces.members(
            of: try context.parameters.require("workspace_id"), by: principal, origin: context.origin)
        return JSONResponse(MemberList(items: items))
    }

    func removeMember(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let principal = try context.requirePrincipal()
        try await workspaces.removeMember(
            try context.parameters.require("user_id"), from: try context.parameters.require("workspace_id"),
            by: principal, origin: context.origin)
        return .noContent
    }
}

/// Seed 004's secret endpoints under `/api/secrets/workspaces/{workspace_id}/secrets`.
struct SecretsController {
    let secrets: SecretService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post(use: create)
            .get(use: list)
            .get(":secret_id", use: metadata)
            .patch(":secret_id", use: update)
            .delete(":secret_id", use: delete)
            .get(":secret_id/value", use: value)
            .post(":secret_id/rotate", use: rotate)
            .get(":secret_id/audit", use: audit)
    }

    struct Target {
        let principal: Principal
        let workspaceID: String
        let secretID: String?
    }

    func target(_ context: CofferRequestContext) throws -> Target {
        Target(
            principal: try context.requirePrincipal(), workspaceID: try context.parameters.require("workspace_id"),
            secretID: context.parameters.get("secret_id"))
    }

    func create(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        let input = try await JSONCoding.decode(SecretCreate.self, from: request, context: context)
        return JSONResponse(
            try await secrets.create(input, in: t.workspaceID, by: t.principal, origin: context.origin), status: .created)
    }

    func list(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<Page<SecretMetadata>> {
        let t = try target(context)
        let limit = try Query.integer(request, "limit") ?? 50
        let offset = try Query.integer(request, "offset") ?? 0
        return JSONResponse(
            try await secrets.list(in: t.workspaceID, limit: limit, offset: offset, by: t.principal, origin: context.origin))
    }

    func metadata(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        return JSONResponse(
            try await secrets.metadata(of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin))
    }

    func value(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretValue> {
        let t = try target(context)
        let version = try Query.integer(request, "version")
        if let version, version < 1 { throw CofferError(.validationFailed, "version must be 1 or more") }
        return JSONResponse(
            try await secrets.value(
                of: t.secretID!, in: t.workspaceID, version: version, by: t.principal, origin: context.origin))
    }

    func update(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        let patch = try await JSONCoding.decode(SecretPatch.self, from: request, context: context)
        return JSONResponse(
            try await secrets.update(t.secretID!, in: t.workspaceID, with: patch, by: t.principal, origin: context.origin))
    }

    func rotate(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        let input = try await JSONCoding.decode(SecretRotate.self, from: request, context: context)
        return JSONResponse(
            try await secrets.rotate(
                t.secretID!, in: t.workspaceID, newValue: input.newValue, by: t.principal, origin: context.origin))
    }

    func delete(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let t = try target(context)
        try await secrets.delete(t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin)
        return .noContent
    }

    struct AuditList: Encodable, Sendable { let items: [AuditEntryView] }

    func audit(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<AuditList> {
        let t = try target(context)
        let limit = try Query.integer(request, "limit") ?? 50
        let items = try await secrets.auditTrail(
            of: t.secretID!, in: t.workspaceID, limit: limit, by: t.principal, origin: context.origin)
        return JSONResponse(AuditList(items: items))
    }
}

enum Query {
    /// An integer query parameter; present but not an integer is a 422.
    static func integer(_ request: Request, _ name: String) throws -> Int? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text) else { throw CofferError(.validationFailed, "\(name) must be an integer") }
        return value
    }
}
