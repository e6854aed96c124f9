"""Passphrase stanzas: the Argon2id cost is read from the file, and refused BEFORE any work
when it is too weak to be ours or expensive enough to be a denial of service."""

from __future__ import annotations

import os
import time

import pytest

from dbseal.crypto.passphrase import (
    KdfParams,
    PassphraseIdentity,
    PassphraseRecipient,
    describe_stanza,
)
from dbseal.crypto.secret import Secret
from dbseal.errors import UnsafeParameters
from dbseal.format.stanza import Stanza
from unit.sealkit import FAST_KDF, open_bytes, seal_custom

PW = Secret(b"correct horse battery staple")


def _stanza(params: bytes) -> Stanza:
    return Stanza("argon2id", (os.urandom(16), params), os.urandom(48))


@pytest.mark.parametrize(
    ("m", "t", "p"),
    [
        (19455, 2, 1),  # memory just below the floor
        (1024, 3, 4),
        (19456, 1, 1),  # one iteration
        (19456, 0, 1),
        (19456, 2, 0),  # no lanes
        (19456, 2, 17),
        (19456, 65, 1),
        (2 * 1024 * 1024 + 1, 2, 1),  # just above 2 GiB
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),  # absurd
    ],
)
def test_out_of_range_parameters_are_refused_before_any_kdf_runs(m: int, t: int, p: int) -> None:
    stanza = _stanza(KdfParams(m, t, p).encode())
    start = time.perf_counter()
    with pytest.raises(UnsafeParameters) as exc:
        PassphraseIdentity(PW).unwrap([stanza], os.urandom(16))
    assert time.perf_counter() - start < 1.0
    assert exc.value.exit_code == 12


def test_unsafe_parameters_in_a_file_stop_the_open_with_exit_code_12() -> None:
    sealed = seal_custom(b"x", lambda dk, fid: [_stanza(KdfParams(1 << 30, 64, 16).encode())])
    start = time.perf_counter()
    with pytest.raises(UnsafeParameters):
        open_bytes(sealed, [PassphraseIdentity(PW)])
    assert time.perf_counter() - start < 1.0


def test_writer_refuses_weak_parameters_too() -> None:
    with pytest.raises(UnsafeParameters):
        PassphraseRecipient(PW, KdfParams(8, 1, 1))


def test_minimum_and_boundary_parameters_open() -> None:
    for params in (FAST_KDF, KdfParams(19456, 2, 2)):
        sealed = seal_custom(b"rows", PassphraseRecipient(PW, params).wrap)
        assert open_bytes(sealed, [PassphraseIdentity(PW)]) == b"rows"


def test_default_cost_is_the_rfc9106_second_recommendation() -> None:
    stanza = PassphraseRecipient(PW).wrap(os.urandom(32), os.urandom(16))[0]
    assert describe_stanza(stanza) == {
        "type": "argon2id",
        "memory_kib": 65536,
        "iterations": 3,
        "lanes": 4,
    }


def test_wrong_passphrase_does_not_unwrap() -> None:
    fid, dk = os.urandom(16), os.urandom(32)
    stanzas = PassphraseRecipient(PW, FAST_KDF).wrap(dk, fid)
    assert PassphraseIdentity(PW).unwrap(stanzas, fid) == dk
    assert PassphraseIdentity(Secret(b"correct horse battery stapler")).unwrap(stanzas, fid) is None
    assert PassphraseIdentity(PW).unwrap(stanzas, os.urandom(16)) is None  # another file


def test_two_wraps_of_one_passphrase_use_different_salts() -> None:
    fid, dk = os.urandom(16), os.urandom(32)
    a = PassphraseRecipient(PW, FAST_KDF).wrap(dk, fid)[0]
    b = PassphraseRecipient(PW, FAST_KDF).wrap(dk, fid)[0]
    assert a.args[0] != b.args[0] and a.body != b.body
