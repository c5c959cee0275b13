"""Webhook signature checks against the formats GitHub and Stripe document."""

import hashlib
import hmac
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from plugboard import SignatureError, verify_github, verify_stripe  # noqa: E402

# GitHub's own example (docs: "Validating webhook deliveries").
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def stripe_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={'0' * 64},v1={signature}"


class GitHub(unittest.TestCase):
    def test_githubs_example_passes(self):
        verify_github(GITHUB_SECRET, GITHUB_BODY, GITHUB_HEADER)
        verify_github(GITHUB_SECRET.encode(), GITHUB_BODY, "sha256=" + GITHUB_HEADER[7:].upper())

    def test_anything_else_is_refused_with_its_reason(self):
        cases = [
            (GITHUB_SECRET, b"Hello, World?", GITHUB_HEADER, "does not match"),
            ("another secret", GITHUB_BODY, GITHUB_HEADER, "does not match"),
            (GITHUB_SECRET, GITHUB_BODY, None, "no X-Hub-Signature-256"),
            (GITHUB_SECRET, GITHUB_BODY, "sha1=abc", "sha256=<hex>"),
            (GITHUB_SECRET, GITHUB_BODY, "sha256=", "sha256=<hex>"),
            ("", GITHUB_BODY, GITHUB_HEADER, "secret is empty"),
        ]
        for secret, body, header, reason in cases:
            with self.subTest(header=header, body=body):
                with self.assertRaises(SignatureError) as caught:
                    verify_github(secret, body, header)
                self.assertIn(reason, str(caught.exception))


class Stripe(unittest.TestCase):
    secret = "whsec_test"
    body = b'{"id":"evt_1","type":"invoice.paid"}'

    def test_any_v1_signature_may_match(self):
        header = stripe_header(self.secret, self.body, 1_700_000_000)
        verify_stripe(self.secret, self.body, header, now=1_700_000_100)

    def test_old_tampered_and_malformed_deliveries_are_refused(self):
        good = stripe_header(self.secret, self.body, 1_700_000_000)
        cases = [
            (self.body, good, 1_700_000_301, "tolerance"),
            (self.body, good, 1_699_999_600, "tolerance"),
            (self.body + b" ", good, 1_700_000_000, "no signature matches"),
            (self.body, "v1=abc", 1_700_000_000, "no t="),
            (self.body, "t=1700000000", 1_700_000_000, "no v1="),
            (self.body, None, 1_700_000_000, "no Stripe-Signature"),
        ]
        for body, header, now, reason in cases:
            with self.subTest(header=header, now=now):
                with self.assertRaises(SignatureError) as caught:
                    verify_stripe(self.secret, body, header, now=now)
                self.assertIn(reason, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
