"""Planning effects from ERP states (keys, diffing, once per change) and the status decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ordreflyt_fulfillment_listener.config import FulfillmentConfig
from ordreflyt_fulfillment_listener.effects import (
    Effect,
    ErpShipment,
    ErpState,
    Parcel,
    ShopOrderView,
    decide_status,
    plan_effects,
    shipment_key,
    snapshot_text,
)

D = Decimal
T0 = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
CONFIG = FulfillmentConfig()


def state(**changes: Any) -> ErpState:
    base = ErpState(
        document_number="17",
        changed_at=T0,
        ordered={"A": D(2), "B": D(1)},
        delivered={"A": D(0), "B": D(0)},
        invoiced=False,
        cancelled=False,
        shipments=None,
    )
    return replace(base, **changes)


def keys(effects: list[Effect]) -> list[str]:
    return [e.key for e in effects]


def test_nothing_happened_nothing_planned() -> None:
    effects, covered = plan_effects(state(), set(), None, CONFIG)
    assert effects == []
    assert covered == {"A": D(0), "B": D(0)}


def test_invoiced_gives_the_invoiced_status_once() -> None:
    effects, _ = plan_effects(state(invoiced=True), set(), None, CONFIG)
    assert [(e.key, e.status) for e in effects] == [("status:invoiced", "completed")]
    again, _ = plan_effects(state(invoiced=True), {"status:invoiced"}, None, CONFIG)
    assert again == []


def test_cancelled_gives_cancelled_and_nothing_else_about_status() -> None:
    effects, _ = plan_effects(
        state(cancelled=True, invoiced=True, delivered={"A": D(2), "B": D(1)}),
        set(),
        {"A": D(2), "B": D(1)},
        replace(CONFIG, shipped_status="completed"),
    )
    assert keys(effects) == ["status:cancelled"]


def test_disabled_statuses_are_not_planned() -> None:
    config = replace(CONFIG, invoiced_status="", cancelled_status="")
    assert plan_effects(state(invoiced=True), set(), None, config)[0] == []
    assert plan_effects(state(cancelled=True), set(), None, config)[0] == []


def test_shipments_with_parcels_are_keyed_by_their_tracking_numbers() -> None:
    erp = state(
        delivered={"A": D(2), "B": D(1)},
        shipments=(
            ErpShipment(
                lines={"A": D(2), "B": D(1)},
                parcels=(
                    Parcel(tracking_number="Z2", carrier="DHL"),
                    Parcel(tracking_number="A1", carrier="PostNord"),
                ),
            ),
        ),
    )
    effects, _ = plan_effects(erp, set(), None, CONFIG)
    assert keys(effects) == ["shipment:A1,Z2"]
    assert effects[0].complete is True
    assert effects[0].lines == {"A": D(2), "B": D(1)}
    assert [p.tracking_number for p in effects[0].parcels] == ["Z2", "A1"]


def test_partial_then_rest_each_shipment_once_and_only_the_last_complete() -> None:
    first = ErpShipment(lines={"A": D(1)}, parcels=(Parcel(tracking_number="P1"),))
    second = ErpShipment(lines={"A": D(1), "B": D(1)}, parcels=(Parcel(tracking_number="P2"),))
    partial = state(delivered={"A": D(1), "B": D(0)}, shipments=(first,))
    effects, _ = plan_effects(partial, set(), None, CONFIG)
    assert [(e.key, e.complete) for e in effects] == [("shipment:P1", False)]
    done = set(keys(effects))
    full = state(delivered={"A": D(2), "B": D(1)}, shipments=(first, second))
    effects, _ = plan_effects(full, done, None, CONFIG)
    assert [(e.key, e.complete) for e in effects] == [("shipment:P2", True)]


def test_shipped_status_only_when_configured_and_delivered_in_full() -> None:
    config = replace(CONFIG, shipped_status="completed")
    partial = state(delivered={"A": D(1), "B": D(0)})
    assert keys(plan_effects(partial, set(), None, config)[0]) == ["delivery:A=1"]
    full = state(delivered={"A": D(2), "B": D(1)})
    effects, _ = plan_effects(full, {"delivery:A=1"}, {"A": D(1)}, config)
    assert keys(effects) == ["delivery:A=2;B=1", "status:shipped"]
    assert effects[0].lines == {"A": D(1), "B": D(1)}
    assert effects[0].complete is True


def test_deliveries_without_shipments_are_the_difference_to_what_was_covered() -> None:
    erp = state(delivered={"A": D(1), "B": D(0)})
    effects, covered = plan_effects(erp, set(), None, CONFIG)
    assert [(e.key, e.lines, e.complete) for e in effects] == [("delivery:A=1", {"A": D(1)}, False)]
    assert covered == {"A": D(1), "B": D(0)}
    # Seen again (the overlap of the next poll): recognised by its key.
    assert plan_effects(erp, set(keys(effects)), covered, CONFIG)[0] == []


def test_quantities_do_not_count_when_the_erp_delivers_on_creation() -> None:
    config = replace(CONFIG, deliveries_from_quantities=False)
    erp = state(delivered={"A": D(2), "B": D(1)})
    assert plan_effects(erp, set(), None, config)[0] == []


def test_keys_do_not_depend_on_order_or_formatting() -> None:
    parcels = [Parcel(tracking_number="B"), Parcel(tracking_number="A")]
    assert shipment_key(parcels, {}) == shipment_key(list(reversed(parcels)), {"X": D(1)})
    assert shipment_key([], {"B": D("1.00"), "A": D("2.0")}) == "delivery:A=2;B=1"
    assert snapshot_text({"A": D(0), "B": D("0.50")}) == "B=0.5"
    long = {f"ARTICLE-{n:04}": D(n + 1) for n in range(100)}
    key = shipment_key([], long)
    assert key.startswith("delivery:#")
    assert len(key) < 60
    assert key == shipment_key([], dict(reversed(list(long.items()))))


quantities = st.dictionaries(
    st.sampled_from(["A", "B", "C"]),
    st.integers(min_value=0, max_value=5).map(Decimal),
    min_size=1,
)


@given(ordered=quantities, delivered=quantities, invoiced=st.booleans(), cancelled=st.booleans())
def test_planning_the_same_state_again_plans_nothing(
    ordered: dict[str, Decimal],
    delivered: dict[str, Decimal],
    invoiced: bool,
    cancelled: bool,
) -> None:
    config = replace(CONFIG, shipped_status="completed")
    erp = state(ordered=ordered, delivered=delivered, invoiced=invoiced, cancelled=cancelled)
    effects, covered = plan_effects(erp, set(), None, config)
    assert len(set(keys(effects))) == len(effects)
    again, covered_again = plan_effects(erp, set(keys(effects)), covered, config)
    assert again == []
    assert covered_again == covered


# ---------------------------------------------------------------- status decision

LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)


def decide(
    target: str,
    current: str,
    known: str | None = None,
    modified: datetime | None = EARLIER,
    **kw: bool,
) -> tuple[str, str]:
    decision = decide_status(target, ShopOrderView(current, modified), known, T0, CONFIG, **kw)
    return decision.action, decision.reason


def test_forward_moves_are_applied() -> None:
    assert decide("completed", "processing")[0] == "apply"
    assert decide("cancelled", "processing")[0] == "apply"
    assert decide("completed", "on-hold", known="on-hold", modified=LATER)[0] == "apply"


def test_the_same_status_is_already_there() -> None:
    assert decide("completed", "completed", modified=LATER)[0] == "already"


def test_never_backwards() -> None:
    action, reason = decide("processing", "completed")
    assert action == "conflict"
    assert "back from completed" in reason
    action, reason = decide("cancelled", "completed")
    assert action == "conflict"
    assert "already completed" in reason


def test_terminal_statuses_are_never_changed() -> None:
    for status in ("cancelled", "refunded", "failed", "trash"):
        action, reason = decide("completed", status)
        assert action == "conflict"
        assert status in reason


def test_unranked_statuses_are_conflicts() -> None:
    action, reason = decide("completed", "awaiting-pickup")
    assert action == "conflict"
    assert "status_rank" in reason


def test_a_person_changed_the_status_after_the_erp_change() -> None:
    # A person put the order on hold after the ERP invoiced it: not overwritten.
    action, reason = decide("completed", "on-hold", modified=LATER)
    assert action == "conflict"
    assert "after the ERP change" in reason
    # The same change before the ERP change: the ERP's is the later word.
    assert decide("completed", "on-hold", modified=EARLIER)[0] == "apply"
    # A status Ordreflyt set itself is not a person's, however late the shop's save.
    assert decide("completed", "processing", known="processing", modified=LATER)[0] == "apply"
    # Without a status set by Ordreflyt, the paid status the order reached the ERP with.
    assert decide("completed", "processing", known=None, modified=LATER)[0] == "apply"
    assert decide("completed", "processing", known="on-hold", modified=LATER)[0] == "conflict"
    assert decide("completed", "on-hold", modified=LATER, accept_later_change=True)[0] == "apply"


def test_pushed_parcels_replace_notes_from_delivered_quantities() -> None:
    erp = state(delivered={"A": D(2), "B": D(1)})
    effects, covered = plan_effects(
        erp, {"shipment:PN1"}, None, replace(CONFIG, shipped_status="completed")
    )
    assert keys(effects) == ["status:shipped"]
    assert covered == {"A": D(2), "B": D(1)}
