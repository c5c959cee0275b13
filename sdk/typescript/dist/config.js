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
/** The `config/validate` result for the problems a handler returned (none: valid). */
export function validateResult(returned) {
    if (returned === undefined || returned === null)
        return { valid: true, errors: [] };
    if (!Array.isArray(returned)) {
        throw new TypeError('validateConfig must return a list of { path, message } problems (empty when valid)');
    }
    const errors = returned.map((problem, index) => {
        const item = problem;
        if (typeof item !== 'object' || item === null || typeof item.message !== 'string') {
            throw new TypeError(`validateConfig returned a problem without a message at index ${index}`);
        }
        const path = item.path ?? '';
        if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
            throw new TypeError(`validateConfig returned path ${JSON.stringify(path)}; use a JSON Pointer such as "/url"`);
        }
        return { path, message: item.message };
    });
    return { valid: errors.length === 0, errors };
}
/** The `config/test` result for what a handler returned. */
export function testResult(returned) {
    const result = returned;
    if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean' || typeof result.message !== 'string') {
        throw new TypeError('testConfig must return { ok: boolean, message: string, details? }');
    }
    const wire = { ok: result.ok, message: result.message };
    if (result.details !== undefined)
        wire.details = result.details;
    return wire;
}
