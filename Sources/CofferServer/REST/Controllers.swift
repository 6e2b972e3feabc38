import CofferCore
import Foundation
import Hummingbird

/// `/api/auth`: registration, login, the current user; browser sessions by cookie (``CookieSessions``).
struct AuthController {
    let accounts: AccountService
    let limiter: RateLimiter
    let cookies: CookieSessions

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post("register", use: register)
            .post("login", use: login)
            .get("me", use: me)
            .post("refresh", use: refresh)
            .post("logout", use: logout)
            .post("password", use: changePassword)
    }

    /// With a JSON body, exchanges its `refresh_token`. With no body, exchanges the `coffer_refresh` cookie (the
    /// CSRF header required) and answers with new cookies; a refused cookie refresh also clears them.
    func refresh(_ request: Request, context: CofferRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: context.maxBodyBytes)
        guard body.readableBytes == 0, let token = request.cookies[CookieSessions.refreshCookie]?.value, !token.isEmpty else {
            let input = try JSONCoding.decode(RefreshRequest.self, body: body)
            return try JSONResponse(try await accounts.refresh(input, origin: context.origin))
                .response(from: request, context: context)
        }
        do {
            let session = try await accounts.session(ofRefreshToken: token)
            try CookieSessions.checkCSRF(request, expected: session.map(accounts.csrfToken(session:)) ?? "")
            let grant = try await accounts.refresh(RefreshRequest(refreshToken: token), origin: context.origin)
            return try cookieResponse(grant, request: request, context: context)
        } catch let error as CofferError where error.code == .invalidToken {
            var response = APIError.from(error).error.response()
            cookies.clear(&response)
            return response
        }
    }

    /// Ends the caller's session; for a cookie session, also clears the cookies.
    func logout(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await accounts.logout(try context.requirePrincipal(), origin: context.origin)
        var response = Response(status: .noContent)
        if request.headers[.cookie] != nil { cookies.clear(&response) }
        return response
    }

    /// Throttled like login, per account and per client: a stolen session cannot guess the current password.
    func changePassword(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let principal = try context.requirePrincipal()
        let input = try await JSONCoding.decode(PasswordChange.self, from: request, context: context)
        try await limiter.checkingPassword(
            username: try await accounts.user(principal).username, client: context.clientAddress,
            refusal: "Too many wrong passwords; retry later."
        ) { try await accounts.changePassword(input, for: principal, origin: context.origin) }
        return .noContent
    }

    func register(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<UserView> {
        let credentials = try await JSONCoding.decode(Credentials.self, from: request, context: context)
        return JSONResponse(
            try await accounts.register(credentials, caller: context.principal, origin: context.origin), status: .created)
    }

    /// Throttled per username and per client after repeated failures (429 with `Retry-After`). With
    /// `"cookie": true` the tokens are set as cookies instead of returned; such a login must be sent as
    /// `application/json`, which a cross-site form cannot do.
    func login(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let input = try await JSONCoding.decode(LoginRequest.self, from: request, context: context)
        if input.cookie {
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
            guard type?.lowercased() == "application/json" else {
                throw APIError(
                    status: .unsupportedMediaType, code: "unsupported_media_type",
                    message: "A cookie login must be sent with Content-Type: application/json.")
            }
        }
        let grant = try await limiter.checkingPassword(
            username: input.credentials.username.trimmingCharacters(in: .whitespaces), client: context.clientAddress,
            refusal: "Too many failed logins; retry later."
        ) { try await accounts.login(input.credentials, origin: context.origin) }
        guard input.cookie else { return try JSONResponse(grant).response(from: request, context: context) }
        return try cookieResponse(grant, request: request, context: context)
    }

    /// `grant` set as the session cookies, with its session's CSRF token.
    private func cookieResponse(_ grant: TokenGrant, request: Request, context: CofferRequestContext) throws -> Response {
        try cookies.response(for: grant, csrf: accounts.csrfToken(session: grant.sessionID), request: request, context: context)
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
            .get(":secret_id/versions", use: versions)
            .post(":secret_id/rollback", use: rollback)
            .post(":secret_id/restore", use: restore)
            .get("rotation-due", use: rotationDue)
            .get("values", use: values)
            .post("batch", use: batch)
            .get("statistics", use: statistics)
            .get("by-name/**", use: metadataByName)
            .post(":secret_id/rotation-webhook", use: setWebhook)
            .get(":secret_id/rotation-webhook", use: webhook)
            .delete(":secret_id/rotation-webhook", use: removeWebhook)
    }

    struct WebhookBody: Decodable { let url: String }

    /// `POST …/secrets/{id}/rotation-webhook` `{url}`: the endpoint that supplies this secret's next value.
    func setWebhook(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<RotationWebhookView> {
        let t = try target(context)
        let body = try await JSONCoding.decode(WebhookBody.self, from: request, context: context)
        let view = try await secrets.setRotationWebhook(body.url, of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin)
        return JSONResponse(view!)
    }

    func webhook(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<RotationWebhookView> {
        let t = try target(context)
        guard let view = try await secrets.rotationWebhook(of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin)
        else { throw CofferError(.secretNotFound, "This secret has no rotation webhook.") }
        return JSONResponse(view)
    }

    func removeWebhook(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let t = try target(context)
        _ = try await secrets.setRotationWebhook(nil, of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin)
        return .noContent
    }

    /// `GET …/secrets/by-name/<name>`: a secret found by its name (which may be a KV path with slashes).
    func metadataByName(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        return JSONResponse(try await secrets.metadata(named: try context.catchAllPath(), in: t.workspaceID, by: t.principal, origin: context.origin))
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
        let query = Query(request)
        let limit = try query.integer("limit") ?? 50
        let offset = try query.integer("offset") ?? 0
        let filter = SecretFilter(
            tag: query.string("tag"), secretType: query.string("secret_type"), namePrefix: query.string("name_prefix"),
            includeDeleted: try query.boolean("include_deleted") ?? false)
        return JSONResponse(
            try await secrets.list(
                in: t.workspaceID, filter: filter, limit: limit, offset: offset, by: t.principal, origin: context.origin))
    }

    func metadata(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        return JSONResponse(
            try await secrets.metadata(of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin))
    }

    func value(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretValue> {
        let t = try target(context)
        let version = try Query(request).integer("version")
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
        var body = request
        let buffer = try await body.collectBody(upTo: context.maxBodyBytes)
        let input =
            buffer.readableBytes == 0
            ? SecretRotate(newValue: nil) : try await JSONCoding.decode(SecretRotate.self, from: body, context: context)
        return JSONResponse(
            try await secrets.rotate(
                t.secretID!, in: t.workspaceID, newValue: input.newValue, by: t.principal, origin: context.origin))
    }

    func delete(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let t = try target(context)
        let purge = try Query(request).boolean("purge") ?? false
        try await secrets.delete(t.secretID!, in: t.workspaceID, purge: purge, by: t.principal, origin: context.origin)
        return .noContent
    }

    struct VersionList: Encodable, Sendable { let items: [SecretVersionView] }

    func versions(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<VersionList> {
        let t = try target(context)
        return JSONResponse(
            VersionList(
                items: try await secrets.versions(of: t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin)))
    }

    func rollback(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        let input = try await JSONCoding.decode(SecretRollback.self, from: request, context: context)
        return JSONResponse(
            try await secrets.rollback(
                t.secretID!, in: t.workspaceID, to: input.version, by: t.principal, origin: context.origin))
    }

    func restore(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretMetadata> {
        let t = try target(context)
        return JSONResponse(try await secrets.restore(t.secretID!, in: t.workspaceID, by: t.principal, origin: context.origin))
    }

    func values(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretValueList> {
        let t = try target(context)
        let names = Query(request).string("names").map {
            Set($0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        }
        return JSONResponse(try await secrets.values(in: t.workspaceID, names: names, by: t.principal, origin: context.origin))
    }

    func batch(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<ImportResult> {
        let t = try target(context)
        let input = try await JSONCoding.decode(SecretBatch.self, from: request, context: context)
        let result = try await secrets.importBatch(input, in: t.workspaceID, by: t.principal, origin: context.origin)
        return JSONResponse(result, status: input.dryRun == true ? .ok : .created)
    }

    struct DueList: Encodable, Sendable {
        let items: [SecretMetadata]
        let daysAhead: Int

        enum CodingKeys: String, CodingKey { case items, daysAhead = "days_ahead" }
    }

    func rotationDue(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<DueList> {
        let t = try target(context)
        let days = try Query(request).integer("days_ahead") ?? 7
        let items = try await secrets.rotationDue(in: t.workspaceID, daysAhead: days, by: t.principal, origin: context.origin)
        return JSONResponse(DueList(items: items, daysAhead: days))
    }

    func statistics(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<SecretStatisticsView> {
        let t = try target(context)
        return JSONResponse(try await secrets.statistics(in: t.workspaceID, by: t.principal, origin: context.origin))
    }

    struct AuditList: Encodable, Sendable { let items: [AuditEntryView] }

    func audit(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<AuditList> {
        let t = try target(context)
        let limit = try Query(request).integer("limit") ?? 50
        let items = try await secrets.auditTrail(
            of: t.secretID!, in: t.workspaceID, limit: limit, by: t.principal, origin: context.origin)
        return JSONResponse(AuditList(items: items))
    }
}

/// `/api/secrets/workspaces/{workspace_id}/audit`: the workspace's audit trail (admins and owners).
struct WorkspaceAuditController {
    let secrets: SecretService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self).get(use: list)
    }

    /// `action`, `success` and `since` (ISO 8601) from the query.
    static func filter(_ query: Query) throws -> AuditFilter {
        var since: Int64?
        if let text = query.string("since") {
            guard let date = ISO8601DateFormatter().date(from: String(text)) else {
                throw CofferError(.validationFailed, "since must be an ISO 8601 time such as 2026-01-31T12:00:00Z")
            }
            since = Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        return AuditFilter(action: query.string("action"), success: try query.boolean("success"), since: since)
    }

    func list(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<Page<AuditEntryView>> {
        let principal = try context.requirePrincipal()
        let workspaceID = try context.parameters.require("workspace_id")
        let query = Query(request)
        let filter = try Self.filter(query)
        return JSONResponse(
            try await secrets.workspaceAudit(
                in: workspaceID, filter: filter, limit: try query.integer("limit") ?? 50,
                offset: try query.integer("offset") ?? 0, by: principal, origin: context.origin))
    }
}

/// Seed 004's admin endpoints under `/api/secrets/admin` (instance admins only).
struct AdminController {
    let admin: AdminService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post("encryption/rotate-key", use: rotateKey)
            .get("encryption/rotation-status", use: rotationStatus)
            .get("encryption/health", use: health)
            .post("encryption/generate-key", use: generateKey)
            .get("audit/verify", use: verify)
    }

    func rotateKey(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<KeyRotationJobView> {
        let principal = try context.requirePrincipal()
        var body = request
        let buffer = try await body.collectBody(upTo: context.maxBodyBytes)
        let input =
            buffer.readableBytes == 0
            ? KeyRotationRequest() : try await JSONCoding.decode(KeyRotationRequest.self, from: body, context: context)
        return JSONResponse(try await admin.rotateKey(input, by: principal, origin: context.origin), status: .accepted)
    }

    func rotationStatus(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<RotationStatusView> {
        JSONResponse(try await admin.rotationStatus(by: try context.requirePrincipal(), origin: context.origin))
    }

    func health(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<JSONValue> {
        JSONResponse(try await admin.encryptionHealth(by: try context.requirePrincipal(), origin: context.origin))
    }

    func generateKey(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<GeneratedKey> {
        JSONResponse(try await admin.generateKey(by: try context.requirePrincipal(), origin: context.origin))
    }

    func verify(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<AuditVerification> {
        JSONResponse(try await admin.verifyAudit(by: try context.requirePrincipal(), origin: context.origin))
    }

}

/// `/api/workspaces/{workspace_id}/tokens`: service tokens (workspace admins and owners).
struct ServiceTokensController {
    let tokens: ServiceTokenService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self)
            .post(use: create)
            .get(use: list)
            .delete(":token_id", use: revoke)
    }

    struct TokenList: Encodable, Sendable { let items: [ServiceTokenView] }

    func create(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<ServiceTokenView> {
        let principal = try context.requirePrincipal()
        let input = try await JSONCoding.decode(ServiceTokenCreate.self, from: request, context: context)
        return JSONResponse(
            try await tokens.create(
                input, in: try context.parameters.require("workspace_id"), by: principal, origin: context.origin),
            status: .created)
    }

    func list(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<TokenList> {
        let principal = try context.requirePrincipal()
        return JSONResponse(
            TokenList(
                items: try await tokens.list(
                    in: try context.parameters.require("workspace_id"), by: principal, origin: context.origin)))
    }

    func revoke(_ request: Request, context: CofferRequestContext) async throws -> HTTPResponse.Status {
        let principal = try context.requirePrincipal()
        try await tokens.revoke(
            try context.parameters.require("token_id"), in: try context.parameters.require("workspace_id"),
            by: principal, origin: context.origin)
        return .noContent
    }
}

/// `/api/admin/audit`: the whole instance's audit trail, account events included (instance admins).
struct InstanceAuditController {
    let admin: AdminService

    var routes: RouteCollection<CofferRequestContext> {
        RouteCollection(context: CofferRequestContext.self).get(use: list)
    }

    func list(_ request: Request, context: CofferRequestContext) async throws -> JSONResponse<Page<AuditEntryView>> {
        let principal = try context.requirePrincipal()
        let query = Query(request)
        return JSONResponse(
            try await admin.instanceAudit(
                filter: try WorkspaceAuditController.filter(query), userID: query.string("user_id"),
                limit: try query.integer("limit") ?? 50, offset: try query.integer("offset") ?? 0, by: principal,
                origin: context.origin))
    }
}
