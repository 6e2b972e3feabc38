import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Lets Vault clients' `LIST` verb through. NIO's HTTP/1 parser knows no `LIST` method and would refuse the
/// request, so a request line `LIST <target> HTTP/1.1` is rewritten to `GET <target>?list=true` (`&list=true`
/// after an existing query) before the parser sees it: the form Vault's own Go client sends instead of `LIST`.
///
/// Guarantees:
/// - Only the first bytes of a request are looked at or changed: at the start of the connection, and once the
///   parser has seen the previous request end (its body included) and its response has been written in full
///   (clients that wait for a response before the next request, as Vault's clients do). Bytes of a body, even one
///   the server answered before reading it, are never looked at. A `LIST` pipelined behind another request is left
///   to the parser, which refuses it.
/// - At most 8 KiB are held back while a request line is incomplete; a longer `LIST` line is passed on as it is.
final class ListMethodRewriter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Where the connection is between requests; ``RequestBoundary``, after the parser, reports requests' ends.
    final class State {
        var requestEnded = true
        var responseEnded = true
        var atRequestStart: Bool { requestEnded && responseEnded }
    }

    private static let method = Array("LIST ".utf8)
    private static let maxHeld = 8192
    let state = State()
    private var held: ByteBuffer?

    private var atRequestStart: Bool {
        get { state.atRequestStart }
        set {
            state.requestEnded = newValue
            state.responseEnded = newValue
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard held != nil || atRequestStart else { return context.fireChannelRead(data) }
        var buffer = unwrapInboundIn(data)
        if var earlier = held {
            earlier.writeBuffer(&buffer)
            buffer = earlier
            held = nil
        }
        let bytes = buffer.readableBytesView
        let compared = min(bytes.count, Self.method.count)
        guard bytes.prefix(compared).elementsEqual(Self.method.prefix(compared)) else {
            atRequestStart = false
            return context.fireChannelRead(wrapInboundOut(buffer))
        }
        let targetStart = bytes.startIndex + Self.method.count
        guard bytes.count >= Self.method.count,
            let targetEnd = bytes[targetStart...].firstIndex(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") })
        else {
            if bytes.count > Self.maxHeld {
                atRequestStart = false
                return context.fireChannelRead(wrapInboundOut(buffer))
            }
            held = buffer
            return
        }
        let target = bytes[targetStart..<targetEnd]
        var rewritten = context.channel.allocator.buffer(capacity: buffer.readableBytes + 16)
        rewritten.writeString("GET ")
        rewritten.writeBytes(target)
        rewritten.writeString(target.contains(UInt8(ascii: "?")) ? "&list=true" : "?list=true")
        rewritten.writeBytes(bytes[targetEnd...])
        atRequestStart = false
        context.fireChannelRead(wrapInboundOut(rewritten))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { state.responseEnded = true }
        context.write(data, promise: promise)
    }
}

/// After the parser: tells ``ListMethodRewriter`` where each request ends.
final class RequestBoundary: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    let state: ListMethodRewriter.State

    init(state: ListMethodRewriter.State) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { state.requestEnded = true }
        context.fireChannelRead(data)
    }
}
