"""X-Twilio-Signature, against the vectors Twilio's own libraries test with."""

from __future__ import annotations

from providers.sms.twilio.signature import compute_signature, is_valid_signature, url_variants

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TOKEN = "12345"
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilios_published_vector() -> None:
    assert compute_signature(URL, PARAMS, TOKEN) == EXPECTED


def test_the_order_of_the_parameters_does_not_matter() -> None:
    assert compute_signature(URL, list(reversed(PARAMS)), TOKEN) == EXPECTED


def test_a_valid_signature_is_accepted_with_and_without_the_default_port() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert is_valid_signature(URL, PARAMS, EXPECTED, [TOKEN])
    assert is_valid_signature(with_port, PARAMS, EXPECTED, [TOKEN])
    signed_with_port = compute_signature(with_port, PARAMS, TOKEN)
    assert is_valid_signature(URL, PARAMS, signed_with_port, [TOKEN])


def test_any_of_several_tokens_may_have_signed() -> None:
    assert is_valid_signature(URL, PARAMS, EXPECTED, ["other-token", TOKEN])


def test_a_tampered_parameter_url_or_token_is_refused() -> None:
    tampered = [(name, "9999" if name == "Digits" else value) for name, value in PARAMS]
    assert not is_valid_signature(URL, tampered, EXPECTED, [TOKEN])
    assert not is_valid_signature(URL + "&baz=3", PARAMS, EXPECTED, [TOKEN])
    assert not is_valid_signature(
        "https://evil.example/myapp.php?foo=1&bar=2", PARAMS, EXPECTED, [TOKEN]
    )
    assert not is_valid_signature(URL, PARAMS, EXPECTED, ["54321"])
    assert not is_valid_signature(URL, [*PARAMS, ("Extra", "1")], EXPECTED, [TOKEN])


def test_a_missing_or_empty_signature_is_refused() -> None:
    assert not is_valid_signature(URL, PARAMS, None, [TOKEN])
    assert not is_valid_signature(URL, PARAMS, "", [TOKEN])
    assert not is_valid_signature(URL, PARAMS, EXPECTED, [])


def test_repeated_names_sign_each_distinct_value_once_in_order() -> None:
    once = compute_signature(URL, [("x", "1"), ("x", "2")], TOKEN)
    assert compute_signature(URL, [("x", "2"), ("x", "1"), ("x", "1")], TOKEN) == once
    assert compute_signature(URL, [("x", "1")], TOKEN) != once


def test_url_variants_add_and_remove_only_the_default_port() -> None:
    assert url_variants("https://a.example/p?q=1") == [
        "https://a.example/p?q=1",
        "https://a.example:443/p?q=1",
    ]
    assert url_variants("http://a.example:80/p") == ["http://a.example:80/p", "http://a.example/p"]
    assert url_variants("http://a.example:8080/p") == ["http://a.example:8080/p"]
