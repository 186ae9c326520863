"""Contact validity: is the phone of a type a person answers, is the e-mail a real person's inbox.

Syntax and validity are intake's (marketplace/normalize.py answers 422); here a valid number
of an implausible type (premium rate, toll free, pager) or a throwaway, role or test address
adds points.
"""

from __future__ import annotations

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from phonenumbers import PhoneNumberType

from fraud.rules import Signal
from marketplace import normalize
from marketplace.models import Lead

# Numbers people give as their own are mobile or fixed lines; VoIP is common but also what
# form-fill farms buy in bulk; the rest are services, not people.
PHONE_TYPES: dict[int, Signal] = {
    PhoneNumberType.PREMIUM_RATE: Signal("phone_premium_rate", 60),
    PhoneNumberType.TOLL_FREE: Signal("phone_toll_free", 40),
    PhoneNumberType.PAGER: Signal("phone_pager", 40),
    PhoneNumberType.VOICEMAIL: Signal("phone_voicemail", 40),
    PhoneNumberType.SHARED_COST: Signal("phone_shared_cost", 30),
    PhoneNumberType.UAN: Signal("phone_uan", 30),
    PhoneNumberType.UNKNOWN: Signal("phone_type_unknown", 20),
    PhoneNumberType.VOIP: Signal("phone_voip", 15),
    PhoneNumberType.PERSONAL_NUMBER: Signal("phone_personal_number", 10),
}

EMAIL_DISPOSABLE = Signal("email_disposable", 50)
EMAIL_TEST = Signal("email_test", 45)
# A domain reserved for examples receives no mail, but the phone beside it may still be real:
# a hint that sends the lead to review only together with another signal.
EMAIL_RESERVED_DOMAIN = Signal("email_reserved_domain", 30)
EMAIL_ROLE = Signal("email_role", 20)

# Mailboxes of a function, not a person.
ROLE_LOCAL_PARTS = frozenset({
    "abuse", "accounts", "admin", "administrator", "billing", "contact", "donotreply", "do-not-reply", "enquiries",
    "hello", "help", "hostmaster", "hr", "info", "jobs", "mail", "marketing", "no-reply", "noreply", "office",
    "postmaster", "root", "sales", "security", "support", "team", "webmaster",
})
# Local parts people type when they do not want to give an address.
TEST_LOCAL_PARTS = frozenset({
    "test", "tester", "testing", "test1", "test123", "asdf", "qwerty", "fake", "dummy", "example", "sample",
    "none", "null", "nobody", "noemail", "no-email", "nomail", "foo", "bar", "foobar", "abc", "xxx", "aaa",
})
# RFC 2606 / RFC 6761 names reserved for examples and tests.
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
# Domains people type when they make an address up.
TEST_DOMAINS = frozenset({"test.com", "testing.com", "domain.com", "fake.com", "nomail.com",
                          "noemail.com", "asdf.com"})


def phone_signals(e164: str) -> list[Signal]:
    kind = normalize.phone_type(e164)
    if kind == PhoneNumberType.UNKNOWN:
        return [Signal("phone_invalid", 70)]
    signal = PHONE_TYPES.get(kind)
    return [signal] if signal else []


def _domains(domain: str) -> list[str]:
    """`a.b.mailinator.com` -> itself and each parent down to `mailinator.com`."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def email_signals(email: str) -> list[Signal]:
    local, _, domain = email.lower().rpartition("@")
    signals: list[Signal] = []
    domains = _domains(domain)
    if any(d in DISPOSABLE_DOMAINS for d in domains):
        signals.append(EMAIL_DISPOSABLE)
    base = local.split("+", 1)[0]
    if any(d in RESERVED_DOMAINS for d in domains) or domain.rsplit(".", 1)[-1] in RESERVED_TLDS:
        signals.append(EMAIL_RESERVED_DOMAIN)
    if any(d in TEST_DOMAINS for d in domains) or base in TEST_LOCAL_PARTS:
        signals.append(EMAIL_TEST)
    elif base in ROLE_LOCAL_PARTS:
        signals.append(EMAIL_ROLE)
    return signals


def check(lead: Lead) -> list[Signal]:
    signals: list[Signal] = []
    if lead.phone:
        signals += phone_signals(lead.phone)
    if lead.email:
        signals += email_signals(lead.email)
    return signals
