"""The customer notes fulfillment-listener writes, in the shop's language.

Each language has three texts: `shipped` (a delivery that completes the order), `partial` (a
partial delivery; the rest follows in its own note), both with `{lines}` (what was sent) and
`{tracking}` (the parcels with their links), and `tracking_label` (shown for a parcel whose
carrier is not known). Built in: Norwegian Bokmål, Swedish, Danish and English; the merchant
may change any of them, or add a language, under `[fulfillment.templates.<locale>]`.

A shop's language is `locale` in `[shops.<id>]` ("sv", "nb", or a WordPress locale such as
"sv_SE"); else the one of its `country` ("SE" -> sv, "NO" -> nb, "DK" -> da); else the one of
the order's currency (SEK -> sv, NOK -> nb, DKK -> da); else English.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoteTemplates:
    shipped: str
    partial: str
    tracking_label: str


DEFAULT_LOCALE = "en"

BUILT_IN: dict[str, NoteTemplates] = {
    "en": NoteTemplates(
        shipped="Your order has been shipped.\n{lines}\n{tracking}",
        partial=(
            "Part of your order has been shipped; the rest follows when it ships.\n"
            "{lines}\n{tracking}"
        ),
        tracking_label="Tracking",
    ),
    "sv": NoteTemplates(
        shipped="Din beställning har skickats.\n{lines}\n{tracking}",
        partial=(
            "En del av din beställning har skickats. Resten skickar vi så snart den är klar.\n"
            "{lines}\n{tracking}"
        ),
        tracking_label="Spårning",
    ),
    "nb": NoteTemplates(
        shipped="Bestillingen din er sendt.\n{lines}\n{tracking}",
        partial=(
            "En del av bestillingen din er sendt. Resten sender vi så snart den er klar.\n"
            "{lines}\n{tracking}"
        ),
        tracking_label="Sporing",
    ),
    "da": NoteTemplates(
        shipped="Din bestilling er sendt.\n{lines}\n{tracking}",
        partial=(
            "En del af din bestilling er sendt. Resten sender vi, så snart den er klar.\n"
            "{lines}\n{tracking}"
        ),
        tracking_label="Sporing",
    ),
}

LOCALE_BY_COUNTRY = {"SE": "sv", "NO": "nb", "DK": "da"}
LOCALE_BY_CURRENCY = {"SEK": "sv", "NOK": "nb", "DKK": "da"}
# "no" is Norwegian as a whole; its written standard here is Bokmål.
_ALIASES = {"no": "nb"}


def locale_key(value: str) -> str:
    """A locale as templates are keyed: the language alone, lower case ("sv_SE" -> "sv")."""
    language = value.strip().replace("-", "_").split("_", 1)[0].lower()
    return _ALIASES.get(language, language)


def locale_for_currency(currency: str) -> str:
    return LOCALE_BY_CURRENCY.get(currency.strip().upper(), DEFAULT_LOCALE)
