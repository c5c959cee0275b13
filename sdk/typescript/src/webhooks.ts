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

import { createHmac, timingSafeEqual } from 'node:crypto';

/** The delivery's signature is missing, malformed, wrong or too old; the message says which. */
export class SignatureError extends Error {
  /** @param message what is wrong with the signature. */
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

function hexHmac(secret: string | Uint8Array, payload: Uint8Array): string {
  if (secret.length === 0) throw new SignatureError('the webhook secret is empty: set it in the config');
  return createHmac('sha256', secret).update(payload).digest('hex');
}

function sameHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Checks GitHub's `X-Hub-Signature-256` header against the body; throws a
 * {@link SignatureError} when it is missing, malformed or does not match.
 */
export function verifyGithub(secret: string | Uint8Array, body: Uint8Array, header: string | undefined): void {
  if (!header) throw new SignatureError('the delivery has no X-Hub-Signature-256 header');
  const trimmed = header.trim();
  const separator = trimmed.indexOf('=');
  const scheme = separator < 0 ? trimmed : trimmed.slice(0, separator);
  const signature = separator < 0 ? '' : trimmed.slice(separator + 1);
  if (scheme !== 'sha256' || signature === '') throw new SignatureError('X-Hub-Signature-256 must read sha256=<hex>');
  if (!sameHex(hexHmac(secret, body), signature)) {
    throw new SignatureError('the signature does not match the body and the secret');
  }
}

/**
 * Checks Stripe's `Stripe-Signature` header against the body. Any of its `v1` signatures may
 * match (Stripe sends several while a secret is rolled). Throws a {@link SignatureError} when
 * none does, or when its timestamp is more than `tolerance` seconds (default 300) from `now`
 * (seconds since the epoch; default the clock).
 */
export function verifyStripe(
  secret: string | Uint8Array,
  body: Uint8Array,
  header: string | undefined,
  options: { tolerance?: number; now?: number } = {},
): void {
  if (!header) throw new SignatureError('the delivery has no Stripe-Signature header');
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const piece = part.trim();
    const separator = piece.indexOf('=');
    if (separator < 0) continue;
    const name = piece.slice(0, separator);
    const value = piece.slice(separator + 1);
    if (name === 't') timestamp = value;
    else if (name === 'v1' && value !== '') signatures.push(value);
  }
  if (timestamp === undefined || !/^\d+$/.test(timestamp)) throw new SignatureError('Stripe-Signature has no t=<unix time>');
  if (signatures.length === 0) throw new SignatureError('Stripe-Signature has no v1=<hex> signature');
  const tolerance = options.tolerance ?? 300;
  const now = options.now ?? Date.now() / 1000;
  const age = Math.trunc(now - Number(timestamp));
  if (Math.abs(age) > tolerance) {
    throw new SignatureError(
      `the delivery was signed ${age} s from now, beyond the ${tolerance} s tolerance: a replay, or a clock far off`,
    );
  }
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), Buffer.from(body)]);
  const expected = hexHmac(secret, signed);
  if (!signatures.some((signature) => sameHex(expected, signature))) {
    throw new SignatureError('no signature matches the body and the secret');
  }
}
