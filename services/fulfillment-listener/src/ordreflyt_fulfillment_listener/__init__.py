"""fulfillment-listener: ERP shipping, invoicing and cancellation back to the shop."""
