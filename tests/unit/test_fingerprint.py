from bifrost_streams.fingerprint import fingerprint, normalize


def test_variants_of_one_error_share_a_fingerprint():
    a = "2026-01-31T10:00:00Z ERROR Connection to 10.0.3.17:5432 timed out after 3000ms (req 7f3a9c2e1b)"
    b = "2026-02-01 11:22:33.456 ERROR Connection to 10.9.8.7:5432 timed out after 15ms (req 00aa11bb22)"
    assert fingerprint(a) == fingerprint(b)


def test_different_errors_differ():
    assert fingerprint("ERROR disk full on /var") != fingerprint("ERROR connection refused")


def test_masks_ids_numbers_and_uuids():
    text = "job 3f0c6a52-5d1e-4a57-9a0e-6f2f6f1d2b11 at 0xDEADBEEF took 12.5s on node-3"
    assert normalize(text) == "job <UUID> at <HEX> took <NUM>s on node-<NUM>"


def test_identifiers_with_digits_inside_words_are_kept():
    # "OrderService2" and "http2" name things; they are not variable numbers.
    assert "OrderService2" in normalize("OrderService2 failed over http2")


def test_digits_inside_an_identifier_are_not_partly_masked():
    # Masking only the tail of "K10" would merge module-K10 with module-K114.
    assert fingerprint("failure in module-K10") != fingerprint("failure in module-K114")
    assert normalize("after 3000ms on node-3") == "after <NUM>ms on node-<NUM>"


def test_white_space_is_folded():
    assert fingerprint("a   b\n\tc") == fingerprint("a b c")
