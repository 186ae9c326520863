"""Billing: ledger, pricing, balances and top-ups, invoices, commissions, payouts, Stripe."""
