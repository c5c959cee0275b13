/**
 * The protocol loop: reads the host's messages, runs handlers concurrently, answers each
 * request exactly once, calls the host, and keeps the lifecycle (initialize, cancel, shutdown,
 * end of file).
 *
 * Owns: {@link serve} and its {@link ServeOptions}; the table of requests in flight (so that
 * `cancel` reaches the right `AbortSignal`), the table of the plugin's own calls waiting for
 * the host's answers (ids `p-1`, `p-2`, …), and the dispatch of each method to its handler.
 *
 * Must not touch: the shapes of params and results (`params.ts`, `routes.ts`, `tools.ts`,
 * `config.ts`) or the bytes on the pipes (`transport.ts`).
 *
 * @module
 */
import { testResult, validateResult } from './config.js';
import { Context, RunContext } from './context.js';
import { Cancelled, describe, ErrorCode, HostError, notImplemented, PluginError, toErrorObject, InvalidParams, } from './errors.js';
import { readConfigParams, readInitializeParams, readRunParams } from './params.js';
import { HttpError, HttpRequest, HttpResponse, httpResult, literalCount, matchPath, readHttpParams } from './routes.js';
import { readToolsCallParams, toolsCallResult } from './tools.js';
import { LineSplitter, LineWriter, logToStderr, preview, takeStdio } from './transport.js';
import { decode, DecodeError, encodeError, encodeNotification, encodeRequest, encodeResult, isRequestId, Method, PROTOCOL_VERSION, } from './wire.js';
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
const DEFAULT_CANCEL_GRACE_MS = 5_000;
/** How long handlers may take to settle once the host has gone (end of file). */
const EOF_GRACE_MS = 2_000;
/** After cancelling at shutdown, how long handlers may take to settle. */
const SHUTDOWN_CANCEL_GRACE_MS = 1_000;
/** The methods dispatched to a plugin's handlers (the rest are the SDK's own). */
const HANDLER_METHODS = new Set([
    Method.RUN,
    Method.CONFIG_VALIDATE,
    Method.CONFIG_TEST,
    Method.HTTP,
    Method.TOOLS_CALL,
]);
let servingStdio = false;
/**
 * Serves `plugin`: speaks the protocol on stdin and stdout until the host sends `shutdown` (in
 * flight requests finish first, then the answer, then exit status 0) or closes stdin (requests
 * in flight are cancelled, then exit 0).
 *
 * From the call on, `console.log` and `process.stdout.write` go to stderr: stdout carries only
 * protocol messages. Do not read `process.stdin` yourself.
 *
 * With `options.input` and `options.output` it speaks on those streams instead and resolves
 * with the exit code, leaving the process alone.
 */
export async function serve(plugin, options = {}) {
    const custom = options.input !== undefined || options.output !== undefined;
    if (custom && (options.input === undefined || options.output === undefined)) {
        throw new TypeError('serve: pass both `input` and `output`, or neither (the process\'s stdin and stdout)');
    }
    if (!custom && servingStdio)
        throw new Error('serve: this process already serves a plugin on stdin and stdout');
    const diagnostics = options.diagnostics ?? logToStderr;
    let input;
    let writer;
    if (custom) {
        input = options.input;
        const output = options.output;
        writer = new LineWriter(output, diagnostics);
        output.on?.('error', (error) => writer.fail(error));
    }
    else {
        servingStdio = true;
        const stdio = takeStdio();
        input = stdio.input;
        writer = new LineWriter(stdio.output, diagnostics);
        stdio.onOutputError((error) => writer.fail(error));
        process.on('unhandledRejection', (reason) => {
            diagnostics(`an unhandled promise rejection (kept running): ${reason instanceof Error ? reason.stack : describe(reason)}`);
        });
    }
    const server = new Server(plugin, writer, {
        diagnostics,
        shutdownTimeoutMs: options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
        cancelGraceMs: options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS,
    });
    const stop = server.listen(input);
    const code = await server.finished;
    stop();
    await writer.flush();
    if (!custom)
        process.exit(code);
    return code;
}
/** The protocol side of one connection to the host. */
class Server {
    /** Resolves with the exit code once the plugin should exit. */
    finished;
    finish;
    plugin;
    writer;
    diagnostics;
    shutdownTimeoutMs;
    cancelGraceMs;
    inflight = new Map();
    running = new Set();
    waiting = new Map();
    nextId = 1;
    state = 'new';
    stopping;
    shuttingDown;
    hostGone = false;
    dataDir = '';
    constructor(plugin, writer, options) {
        this.plugin = plugin;
        this.writer = writer;
        this.diagnostics = options.diagnostics;
        this.shutdownTimeoutMs = options.shutdownTimeoutMs;
        this.cancelGraceMs = options.cancelGraceMs;
        this.finished = new Promise((resolve) => {
            this.finish = (code) => {
                this.plugin.attachLog(undefined);
                resolve(code);
            };
        });
        plugin.attachLog((level, message) => this.notify(Method.LOG, { level, message }));
    }
    /** Starts reading `input`; returns a function that stops. */
    listen(input) {
        const splitter = new LineSplitter({
            onLine: (line) => this.onLine(line),
            onBadLine: (reason) => this.diagnostics(`${reason} from the host`),
        });
        let ended = false;
        const onData = (chunk) => {
            splitter.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
        };
        const onEnd = () => {
            if (ended)
                return;
            ended = true;
            splitter.finish();
            this.onEof();
        };
        const onError = (error) => {
            this.diagnostics(`reading from the host failed: ${error.message}`);
            onEnd();
        };
        input.on('data', onData);
        input.on('end', onEnd);
        input.on('close', onEnd);
        input.on('error', onError);
        return () => {
            input.removeListener('data', onData);
            input.removeListener('end', onEnd);
            input.removeListener('close', onEnd);
            input.removeListener('error', onError);
            input.pause();
        };
    }
    // The host interface of contexts.
    /** Sends a notification to the host. */
    notify(method, params) {
        this.writer.write(encodeNotification(method, params));
    }
    /** Sends a request to the host and resolves with its result. */
    call(method, params) {
        if (this.hostGone) {
            return Promise.reject(new HostError(method, { code: ErrorCode.INTERNAL_ERROR, message: 'the host has closed the connection' }));
        }
        // Ids as in docs/protocol.md: "p-1", "p-2", … (apart from the host's numbers).
        const id = `p-${this.nextId}`;
        this.nextId += 1;
        let line;
        try {
            line = encodeRequest(id, method, params);
        }
        catch (error) {
            return Promise.reject(new TypeError(`${method}: the params are not JSON (${error.message})`));
        }
        return new Promise((resolve, reject) => {
            this.waiting.set(id, { method, resolve, reject });
            this.writer.write(line);
        });
    }
    // Reading.
    onLine(line) {
        let message;
        try {
            message = decode(line);
        }
        catch (error) {
            if (!(error instanceof DecodeError))
                throw error;
            this.diagnostics(`ignored a malformed line from the host (${error.message}): ${preview(line)}`);
            if (error.id !== undefined)
                this.writeError(error.id, { code: ErrorCode.INVALID_REQUEST, message: error.message });
            return;
        }
        try {
            if (message.kind === 'request')
                this.onRequest(message);
            else if (message.kind === 'notification')
                this.onNotification(message);
            else
                this.onResponse(message);
        }
        catch (error) {
            // A bug here must not lose the lines after this one.
            this.diagnostics(`handling ${preview(line)} failed: ${error instanceof Error ? error.stack : describe(error)}`);
        }
    }
    onRequest(request) {
        const { id, method } = request;
        if (method === Method.PING) {
            this.writeResult(id, {});
        }
        else if (method === Method.INITIALIZE) {
            void this.initialize(request);
        }
        else if (method === Method.SHUTDOWN) {
            void this.shutdown(request);
        }
        else if (!HANDLER_METHODS.has(method)) {
            this.writeError(id, notImplemented(method).toErrorObject());
        }
        else if (this.stopping !== undefined) {
            this.writeError(id, { code: ErrorCode.JOB_FAILED, message: `the plugin is stopping (${this.stopping}); try again` });
        }
        else if (this.state !== 'ready') {
            this.writeError(id, { code: ErrorCode.INVALID_REQUEST, message: `${method} before initialize` });
        }
        else if (this.inflight.has(id)) {
            this.writeError(id, { code: ErrorCode.INVALID_REQUEST, message: `request id ${JSON.stringify(id)} is already in flight` });
        }
        else {
            this.start(request);
        }
    }
    onNotification(notification) {
        if (notification.method !== Method.CANCEL) {
            this.diagnostics(`ignored the notification \`${notification.method}\``);
            return;
        }
        const params = (notification.params ?? {});
        if (!isRequestId(params.requestId)) {
            this.diagnostics(`ignored a cancel without a valid requestId: ${preview(JSON.stringify(notification.params))}`);
            return;
        }
        const entry = this.inflight.get(params.requestId);
        // Unknown or already answered: the cancel crossed the answer on the wire.
        if (entry !== undefined)
            this.cancel(entry, typeof params.reason === 'string' ? params.reason : undefined);
    }
    onResponse(response) {
        const waiter = typeof response.id === 'string' ? this.waiting.get(response.id) : undefined;
        if (waiter === undefined) {
            this.diagnostics(`ignored an answer to ${JSON.stringify(response.id)}, which this plugin did not ask`);
            return;
        }
        this.waiting.delete(response.id);
        if (response.error !== undefined)
            waiter.reject(new HostError(waiter.method, response.error));
        else
            waiter.resolve(response.result);
    }
    onEof() {
        this.hostGone = true;
        for (const waiter of this.waiting.values()) {
            waiter.reject(new HostError(waiter.method, { code: ErrorCode.INTERNAL_ERROR, message: 'the host closed the connection' }));
        }
        this.waiting.clear();
        if (this.stopping === 'shutdown')
            return; // The shutdown in progress answers and exits.
        this.stopping = 'end of file';
        for (const entry of this.inflight.values())
            this.cancel(entry, 'the host closed the connection');
        void this.settled(EOF_GRACE_MS).then(() => this.finish(0));
    }
    // Lifecycle.
    async initialize(request) {
        if (this.state !== 'new') {
            this.writeError(request.id, { code: ErrorCode.INVALID_REQUEST, message: 'initialize came twice' });
            return;
        }
        let params;
        try {
            params = readInitializeParams(request.params);
        }
        catch (error) {
            this.writeError(request.id, toErrorObject(error));
            return;
        }
        if (params.protocolVersion !== PROTOCOL_VERSION) {
            this.writeError(request.id, {
                code: ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
                message: `this plugin speaks protocol ${PROTOCOL_VERSION}; plugboard sent protocol ${params.protocolVersion}`,
                data: { supported: [PROTOCOL_VERSION] },
            });
            return;
        }
        this.state = 'initializing';
        this.dataDir = params.dataDir;
        const definition = this.plugin.definition;
        if (definition.initialize !== undefined) {
            try {
                await definition.initialize({
                    host: params.host,
                    dataDir: params.dataDir,
                    log: (level, message) => this.plugin.log(level, message),
                });
            }
            catch (error) {
                this.report('initialize', request.id, error);
                this.writeError(request.id, toErrorObject(error));
                this.state = 'new';
                return;
            }
        }
        this.writeResult(request.id, {
            protocolVersion: PROTOCOL_VERSION,
            plugin: { id: this.plugin.id, name: this.plugin.name, version: this.plugin.version },
            metadata: this.plugin.metadata,
        });
        this.state = 'ready';
    }
    async shutdown(request) {
        this.stopping = 'shutdown';
        this.shuttingDown ??= this.drain();
        await this.shuttingDown;
        this.writeResult(request.id, {});
        this.finish(0);
    }
    /** Lets requests in flight finish; past the timeout, cancels them and answers for them. */
    async drain() {
        if (await this.settled(this.shutdownTimeoutMs))
            return;
        this.diagnostics(`shutdown: ${this.inflight.size} request(s) still running after ${this.shutdownTimeoutMs} ms; cancelling them`);
        for (const entry of this.inflight.values())
            this.cancel(entry, 'the plugin is shutting down');
        await this.settled(SHUTDOWN_CANCEL_GRACE_MS);
        for (const entry of [...this.inflight.values()]) {
            this.respondError(entry, { code: ErrorCode.CANCELLED, message: this.cancelMessage(entry) });
        }
    }
    /** Resolves `true` once every handler has settled, or `false` after `ms`. */
    async settled(ms) {
        if (this.running.size === 0)
            return true;
        let timer;
        const timeout = new Promise((resolve) => {
            timer = setTimeout(() => resolve(false), ms);
        });
        const all = Promise.allSettled([...this.running]).then(() => true);
        const done = await Promise.race([all, timeout]);
        clearTimeout(timer);
        return done;
    }
    // Handling requests.
    start(request) {
        let call;
        try {
            call = this.prepare(request.method, request.params);
        }
        catch (error) {
            this.diagnostics(`${request.method} (request ${JSON.stringify(request.id)}) refused: ${describe(error)}`);
            this.writeError(request.id, toErrorObject(error));
            return;
        }
        const controller = new AbortController();
        const entry = { id: request.id, method: request.method, controller, answered: false, cancelTimer: undefined };
        this.inflight.set(request.id, entry);
        const ctx = call.context({
            host: this,
            requestId: request.id,
            method: request.method,
            tenant: call.tenant,
            dataDir: this.dataDir,
            signal: controller.signal,
        });
        const task = this.handle(entry, call, ctx);
        this.running.add(task);
        void task.then(() => this.running.delete(task));
    }
    async handle(entry, call, ctx) {
        let value;
        try {
            value = await call.invoke(ctx);
        }
        catch (thrown) {
            const recovered = call.recover?.(thrown);
            if (recovered !== undefined) {
                this.respond(entry, recovered);
                return;
            }
            const cancelled = entry.controller.signal.aborted ? this.cancelMessage(entry) : undefined;
            if (entry.answered)
                return;
            if (cancelled === undefined || !(thrown instanceof Cancelled))
                this.report(entry.method, entry.id, thrown);
            this.respondError(entry, toErrorObject(thrown, cancelled));
            return;
        }
        if (entry.answered) {
            this.diagnostics(`${entry.method} (request ${JSON.stringify(entry.id)}) finished after it was answered as cancelled; what it returned is dropped`);
            return;
        }
        let result;
        try {
            result = call.toResult(value);
        }
        catch (error) {
            this.diagnostics(`${entry.method} (request ${JSON.stringify(entry.id)}): ${describe(error)}`);
            this.respondError(entry, { code: ErrorCode.INTERNAL_ERROR, message: describe(error) });
            return;
        }
        this.respond(entry, result);
    }
    cancel(entry, reason) {
        if (entry.controller.signal.aborted || entry.answered)
            return;
        entry.controller.abort(new Cancelled(reason ? `cancelled: ${reason}` : 'cancelled'));
        entry.cancelTimer = setTimeout(() => {
            if (entry.answered)
                return;
            this.diagnostics(`${entry.method} (request ${JSON.stringify(entry.id)}) did not stop within ${this.cancelGraceMs} ms of its cancel; ` +
                'answered it as cancelled (make the handler watch ctx.signal)');
            this.respondError(entry, { code: ErrorCode.CANCELLED, message: this.cancelMessage(entry) });
        }, this.cancelGraceMs);
    }
    cancelMessage(entry) {
        const reason = entry.controller.signal.reason;
        return reason instanceof Cancelled ? reason.message : 'cancelled';
    }
    /** Logs what a handler threw: one line for a `PluginError`, the stack for anything else. */
    report(method, id, thrown) {
        const where = `${method} (request ${JSON.stringify(id)}) failed`;
        if (thrown instanceof PluginError)
            this.diagnostics(`${where}: ${thrown.message}`);
        else
            this.diagnostics(`${where}: ${thrown instanceof Error && thrown.stack ? thrown.stack : describe(thrown)}`);
    }
    /** Finds the handler for a request's method and reads its params (throws a `PluginError`). */
    prepare(method, params) {
        const plugin = this.plugin;
        const definition = plugin.definition;
        const plain = (init) => new Context(init);
        switch (method) {
            case Method.RUN: {
                if (definition.run === undefined)
                    throw notImplemented(method);
                const run = readRunParams(params);
                return {
                    tenant: run.tenant,
                    context: (init) => new RunContext(init, run),
                    invoke: (ctx) => definition.run?.(ctx),
                    toResult: (value) => (value === undefined ? {} : { result: value }),
                };
            }
            case Method.CONFIG_VALIDATE: {
                const config = readConfigParams(method, params);
                return {
                    tenant: config.tenant,
                    context: plain,
                    invoke: (ctx) => definition.validateConfig?.(config.values, ctx),
                    toResult: validateResult,
                };
            }
            case Method.CONFIG_TEST: {
                if (definition.testConfig === undefined)
                    throw notImplemented(method);
                const config = readConfigParams(method, params);
                return {
                    tenant: config.tenant,
                    context: plain,
                    invoke: (ctx) => definition.testConfig?.(config.values, ctx),
                    toResult: testResult,
                };
            }
            case Method.HTTP: {
                if (plugin.routes.size === 0 && definition.http === undefined)
                    throw notImplemented(method);
                const { request, route } = this.route(readHttpParams(params));
                const handler = route?.handler?.bind(route) ?? definition.http?.bind(definition);
                return {
                    tenant: request.tenant,
                    context: plain,
                    invoke: (ctx) => handler === undefined
                        ? HttpResponse.text(`no route ${request.method} ${request.path} in plugin ${plugin.id}`, { status: 404 })
                        : handler(request, ctx),
                    toResult: httpResult,
                    recover: (thrown) => (thrown instanceof HttpError ? httpResult(thrown.toResponse()) : undefined),
                };
            }
            case Method.TOOLS_CALL: {
                if (plugin.tools.size === 0)
                    throw notImplemented(method);
                const call = readToolsCallParams(params);
                const declared = plugin.tools.get(call.name);
                if (declared === undefined) {
                    throw new InvalidParams(`there is no tool \`${call.name}\`; this plugin's tools are: ${[...plugin.tools.keys()].join(', ')}`);
                }
                return {
                    tenant: call.tenant,
                    context: plain,
                    invoke: (ctx) => declared.handler(call.arguments, ctx),
                    toResult: (value) => toolsCallResult(declared, value),
                };
            }
            default:
                throw notImplemented(method);
        }
    }
    /**
     * The route a request is for: the one the host says matched (`HEAD` also reaches `GET`), or
     * failing that the most specific declared pattern that matches the path.
     */
    route(request) {
        const routes = this.plugin.routes;
        const method = request.method.toUpperCase();
        const methods = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
        if (request.route !== '') {
            for (const candidate of methods) {
                const found = routes.get(`${candidate} ${request.route}`);
                if (found !== undefined)
                    return { request, route: found };
            }
        }
        let best;
        for (const candidate of routes.values()) {
            if (!methods.includes(candidate.method))
                continue;
            const params = matchPath(candidate.path, request.path);
            if (params !== undefined && (best === undefined || literalCount(candidate.path) > literalCount(best.route.path))) {
                best = { route: candidate, params };
            }
        }
        if (best === undefined)
            return { request, route: undefined };
        const matched = new HttpRequest({
            method: request.method,
            path: request.path,
            query: request.query,
            headers: { ...request.headers },
            body: request.body,
            tenant: request.tenant,
            route: best.route.path,
            params: best.params,
            access: request.access,
            config: request.config,
        });
        return { request: matched, route: best.route };
    }
    // Writing answers.
    respond(entry, result) {
        if (!this.markAnswered(entry))
            return;
        this.writeResult(entry.id, result);
    }
    respondError(entry, error) {
        if (!this.markAnswered(entry))
            return;
        this.writeError(entry.id, error);
    }
    /** Marks a request answered; false when it already was (each is answered once). */
    markAnswered(entry) {
        if (entry.answered)
            return false;
        entry.answered = true;
        clearTimeout(entry.cancelTimer);
        this.inflight.delete(entry.id);
        return true;
    }
    writeResult(id, result) {
        let line;
        try {
            line = encodeResult(id, result);
        }
        catch (error) {
            this.diagnostics(`the answer to request ${JSON.stringify(id)} is not JSON: ${describe(error)}`);
            line = encodeError(id, { code: ErrorCode.INTERNAL_ERROR, message: `the result is not JSON: ${describe(error)}` });
        }
        this.writer.write(line);
    }
    writeError(id, error) {
        let line;
        try {
            line = encodeError(id, error);
        }
        catch (problem) {
            // The error's data was not JSON: keep the code and message.
            this.diagnostics(`dropped error data that is not JSON: ${describe(problem)}`);
            line = encodeError(id, { code: error.code, message: String(error.message) });
        }
        this.writer.write(line);
    }
}
