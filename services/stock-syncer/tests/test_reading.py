"""Reading and writing the shop through a fake of the shared client: the requests made and how
the answers are understood. (Reading the ERP is its library's: libs/erp/tests.)"""

from __future__ import annotations

from typing import Any, cast

from ordreflyt_stock_syncer.plan import Batch, Update
from ordreflyt_stock_syncer.shop import ShopSide, item_from


class FakeWoo:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.posted: list[tuple[str, Any]] = []
        self.calls = 0

    async def post(self, path: str, body: Any) -> Any:
        self.calls += 1
        self.posted.append((path, body))
        return self.answer


async def test_batch_results_are_matched_to_their_items() -> None:
    updates = (
        Update("S1", 101, 0, {"stock_quantity": "4"}),
        Update("S2", 102, 0, {"stock_quantity": "5"}),
        Update("S3", 103, 0, {"stock_quantity": "6"}),
    )
    woo = FakeWoo(
        {
            "update": [
                {"id": 101, "stock_quantity": 4},
                {"id": 102, "error": {"code": "sandbox_locked", "message": "Locked."}},
            ]
        }
    )
    results = await ShopSide(cast(Any, woo)).send(Batch("/products", updates))
    assert woo.posted == [
        (
            "/products/batch",
            {
                "update": [
                    {"id": 101, "stock_quantity": 4},
                    {"id": 102, "stock_quantity": 5},
                    {"id": 103, "stock_quantity": 6},
                ]
            },
        )
    ]
    assert [(r.sku, r.ok, r.code) for r in results] == [
        ("S1", True, ""),
        ("S2", False, "sandbox_locked"),
        ("S3", False, "no_result"),
    ]


def test_a_variation_takes_its_parents_tax_class_and_has_no_name_or_own_stock() -> None:
    parent = {"id": 7, "tax_class": "reduced-rate", "type": "variable"}
    variation = {
        "id": 8,
        "sku": "V",
        "manage_stock": "parent",
        "stock_quantity": 3,
        "tax_class": "parent",
        "regular_price": "10.00",
        "weight": "",
    }
    item = item_from(variation, parent)
    assert (item.parent_id, item.tax_class, item.name, item.manage_stock) == (
        7,
        "reduced-rate",
        None,
        False,
    )
