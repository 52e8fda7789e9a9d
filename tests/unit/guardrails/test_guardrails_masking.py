"""Masking with a reverse map, unmasking a streamed answer, and the recognisers' checksums (no models needed)."""

from twin_guardrails.masking import StreamUnmasker, mask, unmask
from twin_guardrails.pii import Finding
from twin_guardrails.recognizers import IbanChecksumRecognizer, LuhnCardRecognizer, PhoneNumberRecognizer
from twin_guardrails.secrets import SecretScanner


def _find(text: str, value: str, entity: str) -> Finding:
    start = text.index(value)
    return Finding(entity, start, start + len(value), 1.0)


def test_mask_numbers_placeholders_per_type_and_reuses_them_for_the_same_value():
    text = "mail a@x.org or b@x.org, again a@x.org"
    findings = [_find(text, "a@x.org", "EMAIL_ADDRESS"), _find(text, "b@x.org", "EMAIL_ADDRESS")]
    findings.append(Finding("EMAIL_ADDRESS", text.rindex("a@x.org"), text.rindex("a@x.org") + 7, 1.0))
    masked = mask(text, findings)
    assert masked.text == "mail [EMAIL_ADDRESS_1] or [EMAIL_ADDRESS_2], again [EMAIL_ADDRESS_1]"
    assert masked.reverse_map == {"[EMAIL_ADDRESS_1]": "a@x.org", "[EMAIL_ADDRESS_2]": "b@x.org"}
    assert unmask("write to [EMAIL_ADDRESS_2] and [SECRET_9]", masked.reverse_map) == "write to b@x.org and [SECRET_9]"


def test_mask_continues_numbering_of_an_earlier_turn():
    first = mask("c@x.org", [Finding("EMAIL_ADDRESS", 0, 7, 1.0)])
    second = mask(
        "d@x.org and c@x.org",
        [Finding("EMAIL_ADDRESS", 0, 7, 1.0), Finding("EMAIL_ADDRESS", 12, 19, 1.0)],
        first.reverse_map,
    )
    assert second.text == "[EMAIL_ADDRESS_2] and [EMAIL_ADDRESS_1]"


def test_stream_unmasker_holds_a_placeholder_split_across_pieces():
    unmasker = StreamUnmasker({"[EMAIL_ADDRESS_1]": "a@x.org"})
    out = [unmasker.feed(p) for p in ["Send it to [EMAIL", "_ADDRESS", "_1] now", " [not a placeholder"]]
    out.append(unmasker.flush())
    assert "".join(out) == "Send it to a@x.org now [not a placeholder"
    assert out[0] == "Send it to " and out[1] == ""  # nothing of the placeholder went out half-done


def test_luhn_card_recogniser_needs_a_valid_checksum_and_a_card_network_digit():
    r = LuhnCardRecognizer()
    assert [x.entity_type for x in r.analyze("card 4539 1488 0343 6467 ok", None)] == ["CREDIT_CARD"]
    assert r.analyze("card 4539 1488 0343 6468 ok", None) == []  # checksum off by one
    assert r.analyze("order 1234 5678 9012 3452", None) == []  # passes Luhn, but no card network starts with 1


def test_iban_recogniser_validates_country_length_and_checksum():
    r = IbanChecksumRecognizer()
    text = "pay DE44 5001 0517 5407 3249 31 today"
    (found,) = r.analyze(text, None)
    assert text[found.start : found.end] == "DE44 5001 0517 5407 3249 31"
    assert r.analyze("pay DE44 5001 0517 5407 3249 32 today", None) == []


def test_phone_recogniser_scores_valid_numbers_high_and_takes_international_form_when_merely_possible():
    r = PhoneNumberRecognizer(("US", "GB"))
    text = "office +1 202 456 1111, mobile +44 7700 900461, year 2024"
    found = {text[x.start : x.end]: x.score for x in r.analyze(text, None)}
    assert found == {"+1 202 456 1111": 0.9, "+44 7700 900461": 0.7}


def test_secret_scanner_finds_values_not_keywords():
    scanner = SecretScanner()
    text = (
        "url postgres://svc:Xq9-Lm2vZ@db:5432/a and key AKIAZZZZ7Q2WXZ4ABCDE and "
        "token ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5 and password: hunter2hunter2"
    )
    values = {text[f.start : f.end] for f in scanner.scan(text)}
    assert values == {"Xq9-Lm2vZ", "AKIAZZZZ7Q2WXZ4ABCDE", "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5", "hunter2hunter2"}


def test_secret_scanner_masks_a_whole_private_key_block_and_leaves_prose_alone():
    scanner = SecretScanner()
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----"
    (finding,) = scanner.scan(f"why is this rejected? {block} thanks")
    assert finding.kind == "Private Key" and finding.end - finding.start == len(block)
    assert scanner.scan("How should I store passwords and rotate API keys safely?") == []
