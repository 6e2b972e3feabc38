import CofferCrypto
import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The web UI: one page shell at `/ui/` and its stylesheet and ES modules, compiled into the binary (SwiftPM
/// `embedInCode`), so the server needs no files, no Node toolchain and nothing from another origin.
///
/// The UI is a client of the REST API like any other, signed in with a cookie session (``CookieSessions``): every
/// permission is checked where the API checks it, and there is no second rendering of any data on the server.
///
/// Guarantees:
/// - Assets are served under `/ui/assets/<version>/`, where the version is a digest of every asset, with
///   `Cache-Control: public, max-age=31536000, immutable`: a changed asset is a new URL. Modules import each other
///   by relative path, so they stay within one version.
/// - The page shell is `no-cache` and carries ``pagePolicy``: scripts and styles from this origin only, no inline
///   script or style, no framing, forms posting only here.
/// - `GET /` and `GET /ui` redirect to `/ui/`.
struct WebUI: Sendable {
    static let pagePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    /// Every embedded file but the shell; a new file in `Assets/` is listed here.
    static let files: [(name: String, bytes: [UInt8])] = [
        ("app.css", PackageResources.app_css),
        ("favicon.svg", PackageResources.favicon_svg),
        ("api.js", PackageResources.api_js),
        ("dom.js", PackageResources.dom_js),
        ("app.js", PackageResources.app_js),
        ("pages-workspace.js", PackageResources.pages_workspace_js),
        ("pages-secrets.js", PackageResources.pages_secrets_js),
        ("pages-admin.js", PackageResources.pages_admin_js),
    ]

    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    /// The first 16 hex digits of SHA-256 over every asset's name and bytes.
    let version: String
    let shell: ByteBuffer
    let assets: [String: Asset]

    init() {
        var hash = SHA256()
        for file in Self.files.sorted(by: { $0.name < $1.name }) {
            hash.update(data: Data(file.name.utf8))
            hash.update(data: [0])
            hash.update(data: file.bytes)
            hash.update(data: [0])
        }
        let version = Hex.encode(hash.finalize().prefix(8))
        self.version = version
        let page = String(decoding: PackageResources.index_html, as: UTF8.self)
            .replacingOccurrences(of: "{{assets}}", with: "/ui/assets/\(version)")
        shell = ByteBuffer(string: page)
        assets = Dictionary(
            uniqueKeysWithValues: Self.files.map {
                ($0.name, Asset(body: ByteBuffer(bytes: $0.bytes), contentType: Self.contentType(of: $0.name)))
            })
    }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "html": "text/html; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    func add(to router: Router<CofferRequestContext>) {
        router.get("/") { _, _ in Self.redirect() }
        // The router matches `/ui` and `/ui/` alike; the shell is served at the latter only.
        router.get("/ui") { request, _ in
            guard request.uri.path.hasSuffix("/") else { return Self.redirect() }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                    .contentSecurityPolicy: Self.pagePolicy,
                ],
                body: .init(byteBuffer: shell))
        }
        router.get("/ui/assets/:version/:file") { _, context in
            guard context.parameters.get("version") == version, let name = context.parameters.get("file"),
                let asset = assets[name]
            else {
                throw APIError(status: .notFound, code: "not_found", message: "No such UI asset.")
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                    .contentSecurityPolicy: Self.pagePolicy,
                ],
                body: .init(byteBuffer: asset.body))
        }
    }

    private static func redirect() -> Response {
        Response(status: .found, headers: [.location: "/ui/"])
    }
}
