/**
 * Reading the params of the host's requests into typed values.
 *
 * Owns: {@link Fields}, a checked reader of one params object whose errors name the field
 * (`run: params.job.id must be an integer`), and the types and readers of `initialize`, `run`,
 * `config/validate` and `config/test` params. (`http` and `tools/call` params are read in
 * `routes.ts` and `tools.ts`.)
 *
 * Must not touch: handlers or I/O. A bad field throws {@link InvalidParams}, answered -32602.
 *
 * @module
 */
/** The job a `run` is one attempt of. */
export interface JobInfo {
    /** The job's id in the host's queue. */
    id: number;
    /** This attempt, from 1. */
    attempt: number;
    /** The last attempt there will be. */
    maxAttempts: number;
    /** When the host stops the attempt (RFC 3339), if the job has a timeout. */
    deadline?: string;
}
/** The event a `run` was started for (`trigger.kind === 'event'`). */
export interface TriggerEvent {
    /** The event's id. */
    id: string;
    /** Its type, such as `form.submitted`. */
    type: string;
    /** Its payload. */
    payload: unknown;
}
/** Why a `run` runs. */
export interface Trigger {
    /** `schedule`, `event` or `manual` (new kinds may appear; treat unknown ones as manual). */
    kind: 'schedule' | 'event' | 'manual' | (string & {});
    /** The event, when `kind` is `event`. */
    event?: TriggerEvent;
    /** When the schedule fired (RFC 3339), when `kind` is `schedule`. */
    fireTime?: string;
}
/** The config a `run` runs with. */
export interface ConfigInfo<TConfig = Record<string, unknown>> {
    /** The config's id (`cfg_…`). */
    id: string;
    /** Its name, unique per tenant and plugin. */
    name: string;
    /** Its values, valid against the plugin's `configSchema`. */
    values: TConfig;
}
/** The params of `run`. */
export interface RunParams {
    job: JobInfo;
    trigger: Trigger;
    tenant: string | undefined;
    config: ConfigInfo<unknown> | undefined;
    payload: unknown;
}
/** The params of `initialize`. */
export interface InitializeParams {
    protocolVersion: number;
    host: {
        name: string;
        version: string;
    };
    dataDir: string;
}
/** The params of `config/validate` and `config/test`. */
export interface ConfigParams {
    tenant: string | undefined;
    values: unknown;
}
/** A checked reader of one object's fields; every error names the field. */
export declare class Fields {
    private readonly object;
    private readonly where;
    /** @param where the object's name in messages, such as `run: params`. */
    constructor(value: unknown, where: string);
    /** The raw value of a field (`null` reads as absent, as the protocol says). */
    raw(name: string): unknown;
    /** A required string. */
    string(name: string): string;
    /** An optional string. */
    optionalString(name: string): string | undefined;
    /** A required integer. */
    integer(name: string): number;
    /** A nested object, as a reader. */
    fields(name: string): Fields;
    /** An optional nested object, as a reader. */
    optionalFields(name: string): Fields | undefined;
    /** An object of strings (headers, route params); absent reads as `{}`. */
    stringMap(name: string): Record<string, string>;
    /** A required field of any JSON value (`null` included). */
    required(name: string): unknown;
    private wrong;
}
/** Reads the params of `initialize`. */
export declare function readInitializeParams(params: unknown): InitializeParams;
/** Reads the params of `run`. */
export declare function readRunParams(params: unknown): RunParams;
/** Reads the params of `config/validate` or `config/test` (`method` names them in errors). */
export declare function readConfigParams(method: string, params: unknown): ConfigParams;
