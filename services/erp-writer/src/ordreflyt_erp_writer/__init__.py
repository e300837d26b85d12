"""erp-writer: writes mapped orders through an ERP adapter (Fortnox), exactly once."""
