"""Creating and changing customers and articles from request bodies, with Fortnox's checks."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

from ordreflyt_sandbox_fortnox.errors import CUSTOMER_NUMBER_IN_USE, bad_request, invalid_parameter
from ordreflyt_sandbox_fortnox.fields import Fields
from ordreflyt_sandbox_fortnox.models import SWEDISH_VAT_RATES, Article, Customer
from ordreflyt_sandbox_fortnox.store import Store

CUSTOMER_TYPES = ("PRIVATE", "COMPANY")
VAT_TYPES = ("SEVAT", "SEREVERSEDVAT", "EUREVERSEDVAT", "EUVAT", "EXPORT")
# Always present in a customer's JSON ("" when empty).
CUSTOMER_TEXT = (
    "Name",
    "Email",
    "Address1",
    "Address2",
    "ZipCode",
    "City",
    "CountryCode",
    "Phone1",
    "OrganisationNumber",
)
# Present once a client has set them.
CUSTOMER_EXTRA_TEXT = (
    "Country",
    "Phone2",
    "Currency",
    "DeliveryName",
    "DeliveryAddress1",
    "DeliveryAddress2",
    "DeliveryZipCode",
    "DeliveryCity",
    "DeliveryCountry",
    "DeliveryCountryCode",
    "DeliveryPhone1",
    "EmailInvoice",
    "EmailOrder",
    "YourReference",
    "OurReference",
    "VATNumber",
    "TermsOfPayment",
    "TermsOfDelivery",
    "WayOfDelivery",
    "PriceList",
    "Comments",
)
CUSTOMER_FLAGS = ("Active", "ShowPriceVATIncluded")
CUSTOMER_READ_ONLY = ("@url",)

ARTICLE_PASSTHROUGH = (
    "EAN",
    "Type",
    "Manufacturer",
    "ManufacturerArticleNumber",
    "Note",
    "SupplierNumber",
    "StockPlace",
    "PurchasePrice",
    "Active",
    "Expired",
    "WebshopArticle",
)
ARTICLE_NUMBER_MAX = 50
ARTICLE_READ_ONLY = ("@url", "ReservedQuantity", "DisposableQuantity", "LastModified")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _customer_fields(fields: Fields, values: dict[str, object]) -> None:
    for key in (*CUSTOMER_TEXT, *CUSTOMER_EXTRA_TEXT):
        text = fields.text(key)
        if text is not None:
            values[key] = text
    for key in CUSTOMER_FLAGS:
        flag = fields.boolean(key)
        if flag is not None:
            values[key] = flag
    kind = fields.choice("Type", CUSTOMER_TYPES)
    if kind is not None:
        values["Type"] = kind
    vat_type = fields.choice("VATType", VAT_TYPES)
    if vat_type is not None:
        values["VATType"] = vat_type
    fields.ignore(CUSTOMER_READ_ONLY)
    fields.finish()
    for key in ("Email", "EmailInvoice", "EmailOrder"):
        email = values.get(key)
        if isinstance(email, str) and email and not _EMAIL.match(email):
            raise invalid_parameter(f"Ogiltig e-postadress ({key}: {email!r})")
    country = values.get("CountryCode")
    if isinstance(country, str) and country and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise invalid_parameter(f"Ogiltig landskod ({country!r}), ange två bokstäver, t.ex. SE")
    if not values.get("Name"):
        raise invalid_parameter("Kunden måste ha ett namn (Name)")


def create_customer(store: Store, fields: Fields) -> Customer:
    number = fields.text("CustomerNumber") or ""
    if number in store.customers:
        raise bad_request(CUSTOMER_NUMBER_IN_USE, f"Kundnummer {number} används redan")
    values: dict[str, object] = dict.fromkeys(CUSTOMER_TEXT, "")
    values.update({"Type": "COMPANY", "VATType": "SEVAT", "Active": True})
    _customer_fields(fields, values)
    if not number:
        number = store.next_number("customer", store.customers)
    customer = Customer(customer_number=number, fields=values, last_modified=store.now())
    store.put_customer(customer)
    return customer


def update_customer(store: Store, number: str, fields: Fields) -> Customer:
    customer = store.customer(number)
    values = dict(customer.fields)
    # The number is the customer's identity; a body may repeat it but cannot change it.
    fields.ignore(["CustomerNumber"])
    _customer_fields(fields, values)
    customer.fields = values
    customer.last_modified = store.now()
    store.put_customer(customer)
    return customer


def _article_fields(store: Store, fields: Fields, article: Article) -> Decimal | None:
    """Read a body into `article` (a working copy); answers a new QuantityInStock, if any."""
    description = fields.text("Description")
    if description is not None:
        article.description = description
    price = fields.number("SalesPrice")
    if price is not None:
        article.sales_price = price
    vat = fields.number("VAT")
    if vat is not None:
        if vat not in SWEDISH_VAT_RATES:
            raise invalid_parameter(f"Ogiltig momssats ({vat}); tillåtna: 25, 12, 6, 0")
        article.vat = vat
    weight = fields.integer("Weight")
    if weight is not None:
        article.weight = weight
    stock_goods = fields.boolean("StockGoods")
    if stock_goods is not None:
        article.stock_goods = stock_goods
    unit = fields.text("Unit")
    if unit is not None:
        article.unit = unit
    article.extra = {**article.extra, **fields.passthrough(ARTICLE_PASSTHROUGH)}
    quantity = None
    if store.warehouse:
        # With the warehouse module stock is kept per stock point; the article's total is read-only.
        fields.ignore(["QuantityInStock"])
    else:
        quantity = fields.number("QuantityInStock")
    fields.ignore(ARTICLE_READ_ONLY)
    fields.finish()
    if not article.description:
        raise invalid_parameter("Artikeln måste ha en benämning (Description)")
    return quantity


def _save_article(store: Store, article: Article, quantity: Decimal | None) -> Article:
    article.last_modified = store.now()
    store.articles[article.article_number] = article
    if quantity is not None:
        store.stock.set_in_stock(article.article_number, store.stock.default_point, quantity)
    return article


def create_article(store: Store, fields: Fields) -> Article:
    number = fields.text("ArticleNumber", ARTICLE_NUMBER_MAX) or ""
    if number in store.articles:
        raise invalid_parameter(f"Artikelnummer {number} används redan")
    article = Article(article_number=number, description="", last_modified=store.now())
    quantity = _article_fields(store, fields, article)
    if not number:
        article.article_number = store.next_number("article", store.articles)
    return _save_article(store, article, quantity)


def update_article(store: Store, number: str, fields: Fields) -> Article:
    # Work on a copy, so a body refused halfway leaves the article as it was.
    article = replace(store.article(number))
    fields.ignore(["ArticleNumber"])
    quantity = _article_fields(store, fields, article)
    return _save_article(store, article, quantity)
