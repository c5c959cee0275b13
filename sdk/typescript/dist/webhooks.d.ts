/**
 * Checking webhook signatures: that a delivery was sent by whoever holds the shared secret.
 *
 * A webhook address (`/hooks/{config}/{secret}`) already tells the host which config and
 * tenant a delivery is for; a signature tells the plugin the body is what the sender signed.
 * The two formats here are the ones most services copy:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
 * - Stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">[,v1=…]`,
 *   refused when `t` is more than `tolerance` seconds from now (a replayed delivery).
 *
 * Owns: {@link verifyGithub}, {@link verifyStripe} and {@link SignatureError}, as the Python
 * and Rust SDKs have them.
 *
 * Must not touch: where the secret comes from (usually a secret field of the config, opened
 * for the delivery: `request.config.values`).
 *
 * @module
 */
/** The delivery's signature is missing, malformed, wrong or too old; the message says which. */
export declare class SignatureError extends Error {
    /** @param message what is wrong with the signature. */
    constructor(message: string);
}
/**
 * Checks GitHub's `X-Hub-Signature-256` header against the body; throws a
 * {@link SignatureError} when it is missing, malformed or does not match.
 */
export declare function verifyGithub(secret: string | Uint8Array, body: Uint8Array, header: string | undefined): void;
/**
 * Checks Stripe's `Stripe-Signature` header against the body. Any of its `v1` signatures may
 * match (Stripe sends several while a secret is rolled). Throws a {@link SignatureError} when
 * none does, or when its timestamp is more than `tolerance` seconds (default 300) from `now`
 * (seconds since the epoch; default the clock).
 */
export declare function verifyStripe(secret: string | Uint8Array, body: Uint8Array, header: string | undefined, options?: {
    tolerance?: number;
    now?: number;
}): void;
