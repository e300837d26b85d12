"""stock-syncer: ERP stock and product data to the shop."""
