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
import { InvalidParams } from './errors.js';
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/** A checked reader of one object's fields; every error names the field. */
export class Fields {
    object;
    where;
    /** @param where the object's name in messages, such as `run: params`. */
    constructor(value, where) {
        if (!isObject(value))
            throw new InvalidParams(`${where} must be an object`);
        this.object = value;
        this.where = where;
    }
    /** The raw value of a field (`null` reads as absent, as the protocol says). */
    raw(name) {
        const value = this.object[name];
        return value === null ? undefined : value;
    }
    /** A required string. */
    string(name) {
        const value = this.raw(name);
        if (typeof value !== 'string')
            throw this.wrong(name, 'a string');
        return value;
    }
    /** An optional string. */
    optionalString(name) {
        const value = this.raw(name);
        if (value !== undefined && typeof value !== 'string')
            throw this.wrong(name, 'a string');
        return value;
    }
    /** A required integer. */
    integer(name) {
        const value = this.raw(name);
        if (typeof value !== 'number' || !Number.isInteger(value))
            throw this.wrong(name, 'an integer');
        return value;
    }
    /** A nested object, as a reader. */
    fields(name) {
        return new Fields(this.raw(name), `${this.where}.${name}`);
    }
    /** An optional nested object, as a reader. */
    optionalFields(name) {
        return this.raw(name) === undefined ? undefined : this.fields(name);
    }
    /** An object of strings (headers, route params); absent reads as `{}`. */
    stringMap(name) {
        const value = this.raw(name);
        if (value === undefined)
            return {};
        if (!isObject(value))
            throw this.wrong(name, 'an object of strings');
        const map = {};
        for (const [key, item] of Object.entries(value)) {
            if (typeof item !== 'string')
                throw this.wrong(`${name}.${key}`, 'a string');
            map[key] = item;
        }
        return map;
    }
    /** A required field of any JSON value (`null` included). */
    required(name) {
        if (!(name in this.object))
            throw new InvalidParams(`${this.where}.${name} is missing`);
        return this.object[name];
    }
    wrong(name, what) {
        return new InvalidParams(`${this.where}.${name} must be ${what}`);
    }
}
/** Reads the params of `initialize`. */
export function readInitializeParams(params) {
    const fields = new Fields(params, 'initialize: params');
    const host = fields.fields('host');
    return {
        protocolVersion: fields.integer('protocolVersion'),
        host: { name: host.string('name'), version: host.string('version') },
        dataDir: fields.string('dataDir'),
    };
}
/** Reads the params of `run`. */
export function readRunParams(params) {
    const fields = new Fields(params, 'run: params');
    const job = fields.fields('job');
    const jobInfo = {
        id: job.integer('id'),
        attempt: job.integer('attempt'),
        maxAttempts: job.integer('maxAttempts'),
    };
    const deadline = job.optionalString('deadline');
    if (deadline !== undefined)
        jobInfo.deadline = deadline;
    const triggerFields = fields.fields('trigger');
    const trigger = { kind: triggerFields.string('kind') };
    const event = triggerFields.optionalFields('event');
    if (event !== undefined) {
        trigger.event = { id: event.string('id'), type: event.string('type'), payload: event.raw('payload') ?? null };
    }
    const fireTime = triggerFields.optionalString('fireTime');
    if (fireTime !== undefined)
        trigger.fireTime = fireTime;
    const configFields = fields.optionalFields('config');
    return {
        job: jobInfo,
        trigger,
        tenant: fields.optionalString('tenant'),
        config: configFields === undefined
            ? undefined
            : {
                id: configFields.string('id'),
                name: configFields.string('name'),
                values: configFields.raw('values') ?? {},
            },
        payload: fields.raw('payload') ?? null,
    };
}
/** Reads the params of `config/validate` or `config/test` (`method` names them in errors). */
export function readConfigParams(method, params) {
    const fields = new Fields(params, `${method}: params`);
    return { tenant: fields.optionalString('tenant'), values: fields.required('values') };
}
