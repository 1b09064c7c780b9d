"""The Maas-Signature header: one v1 per secret that signs, checked by any match."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from maas.notify import sign, verify

BODY = b'{"kind":"request.created"}'
NEW, OLD = "the-new-secret-0123", "the-old-secret-4567"


def test_one_signature_is_the_documented_hmac() -> None:
    mac = hmac.new(NEW.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(NEW, 1700000000, BODY) == f"t=1700000000,v1={mac}"


def test_during_an_overlap_either_secret_verifies() -> None:
    header = sign(NEW, 1700000000, BODY, OLD)
    assert header.startswith(sign(NEW, 1700000000, BODY) + ",v1=")
    assert verify(NEW, header, BODY)
    assert verify(OLD, header, BODY)
    assert not verify("a-third-secret-890", header, BODY)
    assert not verify(OLD, header, BODY + b"\n")
    assert not verify(OLD, header.replace("t=1700000000", "t=1700000001"), BODY)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=abc",
        "t=,v1=abc",
        "t=soon,v1=abc",
        "t=1700000000,t=1700000001,v1=abc",
        "t=1700000000,v1=ä",
        "t=1700000000",
    ],
)
def test_a_malformed_header_is_refused_not_raised(header: str) -> None:
    assert not verify(NEW, header, BODY)


def test_a_header_with_two_times_is_refused_even_with_a_good_signature() -> None:
    good = sign(NEW, 1700000000, BODY)
    assert not verify(NEW, good + ",t=1700000001", BODY)
