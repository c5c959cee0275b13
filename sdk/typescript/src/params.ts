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
  host: { name: string; version: string };
  dataDir: string;
}

/** The params of `config/validate` and `config/test`. */
export interface ConfigParams {
  tenant: string | undefined;
  values: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A checked reader of one object's fields; every error names the field. */
export class Fields {
  private readonly object: Record<string, unknown>;
  private readonly where: string;

  /** @param where the object's name in messages, such as `run: params`. */
  constructor(value: unknown, where: string) {
    if (!isObject(value)) throw new InvalidParams(`${where} must be an object`);
    this.object = value;
    this.where = where;
  }

  /** The raw value of a field (`null` reads as absent, as the protocol says). */
  raw(name: string): unknown {
    const value = this.object[name];
    return value === null ? undefined : value;
  }

  /** A required string. */
  string(name: string): string {
    const value = this.raw(name);
    if (typeof value !== 'string') throw this.wrong(name, 'a string');
    return value;
  }

  /** An optional string. */
  optionalString(name: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && typeof value !== 'string') throw this.wrong(name, 'a string');
    return value;
  }

  /** A required integer. */
  integer(name: string): number {
    const value = this.raw(name);
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.wrong(name, 'an integer');
    return value;
  }

  /** A nested object, as a reader. */
  fields(name: string): Fields {
    return new Fields(this.raw(name), `${this.where}.${name}`);
  }

  /** An optional nested object, as a reader. */
  optionalFields(name: string): Fields | undefined {
    return this.raw(name) === undefined ? undefined : this.fields(name);
  }

  /** An object of strings (headers, route params); absent reads as `{}`. */
  stringMap(name: string): Record<string, string> {
    const value = this.raw(name);
    if (value === undefined) return {};
    if (!isObject(value)) throw this.wrong(name, 'an object of strings');
    const map: Record<string, string> = {};
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== 'string') throw this.wrong(`${name}.${key}`, 'a string');
      map[key] = item;
    }
    return map;
  }

  /** A required field of any JSON value (`null` included). */
  required(name: string): unknown {
    if (!(name in this.object)) throw new InvalidParams(`${this.where}.${name} is missing`);
    return this.object[name];
  }

  private wrong(name: string, what: string): InvalidParams {
    return new InvalidParams(`${this.where}.${name} must be ${what}`);
  }
}

/** Reads the params of `initialize`. */
export function readInitializeParams(params: unknown): InitializeParams {
  const fields = new Fields(params, 'initialize: params');
  const host = fields.fields('host');
  return {
    protocolVersion: fields.integer('protocolVersion'),
    host: { name: host.string('name'), version: host.string('version') },
    dataDir: fields.string('dataDir'),
  };
}

/** Reads the params of `run`. */
export function readRunParams(params: unknown): RunParams {
  const fields = new Fields(params, 'run: params');
  const job = fields.fields('job');
  const jobInfo: JobInfo = {
    id: job.integer('id'),
    attempt: job.integer('attempt'),
    maxAttempts: job.integer('maxAttempts'),
  };
  const deadline = job.optionalString('deadline');
  if (deadline !== undefined) jobInfo.deadline = deadline;
  const triggerFields = fields.fields('trigger');
  const trigger: Trigger = { kind: triggerFields.string('kind') };
  const event = triggerFields.optionalFields('event');
  if (event !== undefined) {
    trigger.event = { id: event.string('id'), type: event.string('type'), payload: event.raw('payload') ?? null };
  }
  const fireTime = triggerFields.optionalString('fireTime');
  if (fireTime !== undefined) trigger.fireTime = fireTime;
  const configFields = fields.optionalFields('config');
  return {
    job: jobInfo,
    trigger,
    tenant: fields.optionalString('tenant'),
    config:
      configFields === undefined
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
export function readConfigParams(method: string, params: unknown): ConfigParams {
  const fields = new Fields(params, `${method}: params`);
  return { tenant: fields.optionalString('tenant'), values: fields.required('values') };
}
