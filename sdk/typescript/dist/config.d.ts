/**
 * Config checks: what `validateConfig` and `testConfig` return, and their wire form.
 *
 * Owns: {@link ConfigProblem}, {@link ConfigTestResult} and the results of `config/validate`
 * and `config/test`.
 *
 * Must not touch: I/O.
 *
 * @module
 */
/** A problem with a config's values, shown to the user next to the field it names. */
export interface ConfigProblem {
    /** A JSON Pointer into the values (`/url`); `""` for the whole. */
    path: string;
    /** What is wrong and what to write, for a person. */
    message: string;
}
/** What `testConfig` found. A test that ran and failed is `ok: false`, not an error. */
export interface ConfigTestResult {
    /** True when the test passed. */
    ok: boolean;
    /** What happened, for a person. */
    message: string;
    /** Anything more to show (any JSON). */
    details?: unknown;
}
/** The `config/validate` result for the problems a handler returned (none: valid). */
export declare function validateResult(returned: unknown): {
    valid: boolean;
    errors: ConfigProblem[];
};
/** The `config/test` result for what a handler returned. */
export declare function testResult(returned: unknown): ConfigTestResult;
