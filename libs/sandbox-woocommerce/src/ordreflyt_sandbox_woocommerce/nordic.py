"""Norwegian and Swedish customers for sample orders: names, streets, postcodes, phones."""

from __future__ import annotations

import random

FIRST_NAMES = {
    "NO": ("Ola", "Kari", "Per", "Ingrid", "Ståle", "Bjørn", "Åse", "Sølvi", "Håkon", "Øystein",
           "Marit", "Jørgen", "Siri", "Tønnes", "Gro", "Ærling"),
    "SE": ("Erik", "Anna", "Lars", "Åsa", "Björn", "Märta", "Göran", "Ulla", "Örjan", "Karin",
           "Maja", "Sören", "Linnéa", "Östen"),
}  # fmt: skip
LAST_NAMES = {
    "NO": ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
           "Bjørnstad", "Sæther", "Løvås", "Ødegård", "Aasen", "Grønvold", "Brækhus"),
    "SE": ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Öberg",
           "Åkesson", "Sjöström", "Ekström", "Lindqvist", "Bergström"),
}  # fmt: skip
STREETS = {
    "NO": ("Storgata", "Kirkegata", "Bjørnstjerne Bjørnsons gate", "Øvre Slottsgate",
           "Fjellveien", "Sjøgata", "Løkkeveien", "Tårnveien", "Ærøveien"),
    "SE": ("Drottninggatan", "Storgatan", "Kungsgatan", "Östra Hamngatan", "Järnvägsgatan",
           "Åsgatan", "Södra Förstadsgatan"),
}  # fmt: skip
PLACES = {
    "NO": (("0150", "Oslo"), ("5003", "Bergen"), ("7011", "Trondheim"), ("4006", "Stavanger"),
           ("9008", "Tromsø"), ("3015", "Drammen"), ("4610", "Kristiansand"), ("8006", "Bodø"),
           ("6002", "Ålesund"), ("1606", "Fredrikstad")),
    "SE": (("111 29", "Stockholm"), ("411 38", "Göteborg"), ("211 42", "Malmö"),
           ("753 20", "Uppsala"), ("702 10", "Örebro"), ("582 24", "Linköping"),
           ("903 26", "Umeå"), ("721 30", "Västerås"), ("352 30", "Växjö")),
}  # fmt: skip
_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "é": "e"})


def email_for(first: str, last: str, rng: random.Random) -> str:
    local = f"{first}.{last}".lower().translate(_ASCII)
    domain = rng.choice(("gmail.com", "online.no", "hotmail.com", "telia.se", "outlook.com"))
    return f"{local}{rng.randint(1, 99) if rng.random() < 0.3 else ''}@{domain}"


def phone_for(country: str, rng: random.Random) -> str:
    if country == "SE":
        return f"+46 70 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return f"+47 {rng.choice('49')}{rng.randint(1000000, 9999999)}"


def address(country: str, rng: random.Random, first: str, last: str) -> dict[str, str]:
    postcode, city = rng.choice(PLACES[country])
    return {
        "first_name": first,
        "last_name": last,
        "company": "",
        "address_1": f"{rng.choice(STREETS[country])} {rng.randint(1, 120)}",
        "address_2": rng.choice(("", "", "", f"Leilighet H0{rng.randint(1, 9)}01")),
        "city": city,
        "state": "",
        "postcode": postcode,
        "country": country,
    }


def person(country: str, rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES[country]), rng.choice(LAST_NAMES[country])
