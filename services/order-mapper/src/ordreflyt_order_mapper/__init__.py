"""order-mapper: shop order state, mapping to ERP-neutral orders, holds."""
